"""What a trained VAE's latent code does: the KL per latent dimension, and which
dimensions are active (Burda et al., 2016)."""

from __future__ import annotations

import torch
from torch import nn

from .probability import kl_normal_std
from .utils import check_tensor


@torch.no_grad()
def _encode_all(model: nn.Module, x: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    check_tensor(x, "x", ndim=2)
    if len(x) < 2:
        raise ValueError(f"x needs at least 2 images to measure a spread over images, got {len(x)}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    pairs = [model.encode(chunk.to(device)) for chunk in x.split(batch_size)]
    model.train(was_training)
    return torch.cat([mu for mu, _ in pairs]), torch.cat([logvar for _, logvar in pairs])


def kl_per_dimension(model: nn.Module, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Mean over the images ``x`` ``(N, D)`` of KL(q(z_j | x) || N(0, 1)) for each latent
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
    definition of Burda et al. (2016): an inactive dimension's code mean is the same for
    every image, so it carries no information about x. Introduced in chapter 5."""
    if not threshold > 0:
        raise ValueError(f"threshold must be positive, got {threshold!r}")
    return int((posterior_mean_variance(model, x, batch_size) > threshold).sum().item())
