"""What a trained VAE's latent code does: rate and distortion, the KL per latent
dimension, which dimensions are active (Burda et al., 2016), and the mutual
information between images and codes."""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from .probability import kl_normal_std
from .utils import check_tensor


def _check_positive_int(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")


def _device(model: nn.Module) -> torch.device:
    """Where ``model`` lives: its first parameter's device, or its first buffer's."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return torch.device("cpu")


@torch.no_grad()
def _encode_all(model: nn.Module, x: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor(x, "x", ndim=2)
    if len(x) < 2:
        raise ValueError(f"x needs at least 2 images to measure a spread over images, got {len(x)}")
    _check_positive_int(batch_size=batch_size)
    device = _device(model)
    was_training = model.training
    model.eval()
    pairs = [model.encode(chunk.to(device)) for chunk in x.split(batch_size)]
    model.train(was_training)
    return torch.cat([mu for mu, _ in pairs]), torch.cat([logvar for _, logvar in pairs])


def kl_per_dimension(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Mean over the images ``x`` ``(n, D)`` of KL(q(z_j | x) || N(0, 1)) for each latent
    dimension j, in nats, shape ``(L,)``; the entries sum to the mean KL term of the
    ELBO. Introduced in chapter 5."""
    mu, logvar = _encode_all(model, x, batch_size)
    # kl_normal_std sums over its last axis: give each dimension an axis of size 1
    return kl_normal_std(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(0)


def posterior_mean_variance(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Var_x(E_q[z_j | x]) per latent dimension j over the images ``x``, shape ``(L,)``:
    how much the code mean moves from image to image. Introduced in chapter 5."""
    mu, _ = _encode_all(model, x, batch_size)
    return mu.double().var(0).to(mu.dtype)


def active_units(model: nn.Module, x: torch.Tensor, threshold: float = 0.01, batch_size: int = 1000) -> int:
    """The number of latent dimensions with Var_x(E_q[z_j | x]) > ``threshold``, the
    definition of Burda et al. (2016): an inactive dimension's code mean hardly moves
    from image to image. The count is not a count of informative dimensions: the mean
    KL of dimension j is at least Var_x(E_q[z_j | x]) / 2, so an active one may carry
    as little as ``threshold / 2`` nats, and an inactive one can still carry some
    through its variance. Introduced in chapter 5."""
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}")
    return int((posterior_mean_variance(model, x, batch_size) > threshold).sum().item())


@torch.no_grad()
def rate_distortion(
    model: nn.Module, x: torch.Tensor, samples: int = 1, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image rate and distortion in nats, two tensors of shape ``(n,)``.

    Rate R(x) = KL(q(z | x) || p(z)), exact (closed form). Distortion
    𝒟(x) = E_q[−log p(x | z)], estimated from ``samples`` reparameterized draws of z
    per image. Their sum estimates the negative ELBO of each image: with
    ``samples=1``, the same random state and ``len(x) <= batch_size`` (one chunk,
    so one draw of the noise), it is ``negative_elbo(model, x, reduction="none")``
    draw for draw. Runs in eval mode, ``batch_size`` images at a time. Introduced
    in chapter 6.
    """
    check_tensor(x, "x", ndim=2)
    _check_positive_int(samples=samples, batch_size=batch_size)
    device = _device(model)
    was_training = model.training
    model.eval()
    rates, distortions = [], []
    for chunk in x.split(batch_size):
        chunk = chunk.to(device)
        mu, logvar = model.encode(chunk)
        shape = (samples, *mu.shape)
        std = torch.exp(0.5 * logvar).expand(shape)  # σ = exp(½ log σ²)
        z = mu + std * torch.randn_like(std)  # the draws VAE.reparameterize would make
        rates.append(kl_normal_std(mu, logvar))
        distortions.append(-model.log_likelihood(chunk, z).mean(0))
    model.train(was_training)
    return torch.cat(rates), torch.cat(distortions)


@torch.no_grad()
def mutual_information(
    model: nn.Module,
    x: torch.Tensor,
    samples: int = 1,
    chunk_size: int = 256,
    generator: torch.Generator | None = None,
) -> float:
    """I_q(x; z) in nats, with x uniform over the n images ``x`` and z ~ q(z | x).

    Math: (1/n) Σ_i E_{z ~ q(z | x_i)}[log q(z | x_i) − log q(z)], where the
    aggregate posterior q(z) = (1/n) Σ_m q(z | x_m) is the mixture of all n codes
    (Hoffman and Johnson, 2016), estimated from ``samples`` draws per image. The
    quantity lies between 0 and the mean rate (the rate minus it is
    KL(q(z) || p(z)) ≥ 0); the estimate cannot exceed log n, since each draw's own
    code is one of the n components. Memory is bounded: the (samples · n) × n table
    of log q(z | x_m) is built ``chunk_size`` draws at a time. All draws are made first, from
    ``generator``, so the estimate does not depend on ``chunk_size``. Introduced in
    chapter 6.
    """
    _check_positive_int(samples=samples, chunk_size=chunk_size)
    mu, logvar = _encode_all(model, x, batch_size=1000)
    mu, logvar = mu.double(), logvar.double()
    n, latent = mu.shape
    where = generator.device if generator is not None else mu.device
    eps = torch.randn((samples, n, latent), generator=generator, dtype=torch.float64, device=where)
    z = (mu + torch.exp(0.5 * logvar) * eps.to(mu.device)).reshape(samples * n, latent)
    own = z.new_empty(samples * n)
    mixture = z.new_empty(samples * n)
    precision = torch.exp(-logvar)  # 1 / σ², (n, L)
    # log N(z; μ_m, σ_m²) = −½ [Σ_j (z_j − μ_mj)² / σ_mj² + Σ_j log σ_mj² + L log 2π],
    # expanded in z so that the (draws × n) table is two matrix products
    constant = -0.5 * ((mu.pow(2) * precision).sum(1) + logvar.sum(1) + latent * math.log(2 * math.pi))
    for start in range(0, samples * n, chunk_size):
        zc = z[start : start + chunk_size]
        table = constant - 0.5 * (zc.pow(2) @ precision.T) + zc @ (mu * precision).T  # (c, n)
        index = torch.arange(start, start + len(zc), device=z.device) % n  # each draw's own image
        own[start : start + len(zc)] = table.gather(1, index[:, None]).squeeze(1)
        mixture[start : start + len(zc)] = torch.logsumexp(table, dim=1) - math.log(n)
    return (own - mixture).mean().item()
