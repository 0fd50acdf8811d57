"""Training losses in nats per image: the negative ELBO and the autoencoder's
reconstruction loss. Each takes an explicit ``reduction``."""

from __future__ import annotations

import torch
from torch import nn

from .probability import kl_normal_std
from .utils import check_tensor

REDUCTIONS = ("mean", "sum", "none")


def reduce(values: torch.Tensor, reduction: str) -> torch.Tensor:
    """Per-image values ``(n,)`` → their mean (nats per image), sum (nats per batch) or themselves."""
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def encode(model: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None):
    """``model.encode(x)``, or ``model.encode(x, labels)`` for a conditional model.

    A conditional model without labels, or labels for a model that takes none, is a
    ``ValueError``. Introduced in chapter 7."""
    if getattr(model, "conditional", False):
        if labels is None:
            raise ValueError(
                f"{type(model).__name__} is conditional: pass labels, one int64 class index per image"
            )
        return model.encode(x, labels)
    if labels is not None:
        raise ValueError(f"labels were given, but {type(model).__name__} is not conditional")
    return model.encode(x)


def log_likelihood(model: nn.Module, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor | None = None):
    """log p(x | z), or log p(x | z, y) for a conditional model: ``(..., n)``."""
    if getattr(model, "conditional", False):
        return model.log_likelihood(x, z, labels)
    return model.log_likelihood(x, z)


def elbo_terms(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The ELBO's two terms per image, from one reparameterized z ~ q(z | x).

    Returns (reconstruction log p(x | z), KL(q(z | x) || p(z))), each ``(n,)``, so that
    ELBO = reconstruction − KL. For a conditional model, pass ``labels``: the terms
    are then those of the bound on log p(x | y). Introduced in chapter 3.
    """
    check_tensor(x, "x", ndim=2)
    mu, logvar = encode(model, x, labels)
    z = model.reparameterize(mu, logvar)
    return log_likelihood(model, x, z, labels), kl_normal_std(mu, logvar)


def negative_elbo(
    model: nn.Module,
    x: torch.Tensor,
    beta: float = 1.0,
    reduction: str = "mean",
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """−ELBO = −E_q[log p(x | z)] + β KL(q(z | x) || p(z)), one reparameterized sample.

    The loss to minimize, in nats per image with ``reduction="mean"``, nats per batch
    with ``"sum"``, shape ``(n,)`` with ``"none"``. β = 1 is the true negative ELBO.
    ``labels`` (int64, one per image) are for a conditional model. Introduced in
    chapter 5.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    check_non_negative(beta=beta)
    reconstruction, kl = elbo_terms(model, x, labels)
    return reduce(-reconstruction + beta * kl, reduction)


def beta_objective(
    model: nn.Module,
    x: torch.Tensor,
    beta: float = 1.0,
    free_bits: float = 0.0,
    reduction: str = "mean",
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """The β-VAE objective 𝒟̂ + β R̂, with free bits: what ``fit`` minimizes.

    Math: mean_i[−log p(x_i | z_i)] + β Σ_j max(λ, mean_i KL(q(z_j | x_i) || N(0, 1))),
    one reparameterized z_i per image, λ = ``free_bits`` in nats per latent dimension,
    averaged over the batch (Kingma et al., 2016, who clamp groups of dimensions;
    here each group is one dimension). With λ = 0 it is
    ``negative_elbo(model, x, beta)``; with β = 1 and λ = 0, the negative ELBO. A
    dimension whose batch-mean KL is below λ pays λ instead, a constant, so its KL
    gets no gradient; above λ, nothing changes. Free bits make the objective a batch
    quantity, so ``reduction`` is ``"mean"`` (nats per image) or ``"sum"`` (that
    times the batch size). Introduced in chapter 6.
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum' for a batch objective, got {reduction!r}")
    check_non_negative(beta=beta, free_bits=free_bits)
    check_tensor(x, "x", ndim=2)
    mu, logvar = encode(model, x, labels)
    z = model.reparameterize(mu, logvar)
    distortion = -log_likelihood(model, x, z, labels).mean()
    # per dimension: kl_normal_std sums over its last axis, so give it one of size 1
    rate_per_dim = kl_normal_std(mu.unsqueeze(-1), logvar.unsqueeze(-1)).mean(0)
    objective = distortion + beta * rate_per_dim.clamp(min=free_bits).sum()
    return objective if reduction == "mean" else objective * x.shape[0]


def check_non_negative(**values: float) -> None:
    """Raise a ``ValueError`` naming each value that is not a finite number >= 0."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")


def reconstruction_loss(model: nn.Module, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Binary cross-entropy of x and its reconstruction decode(encode(x)), nats per image.

    Σ_d −[x_d log x̂_d + (1 − x_d) log(1 − x̂_d)] for a deterministic autoencoder. For
    binary pixels (x_d ∈ {0, 1}) this is −log p(x | z = encode(x)) under independent
    Bernoulli pixels; for grey levels it is only a cross-entropy, not the negative log
    of a normalized likelihood. Introduced in chapter 0.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduce(-model.log_likelihood(x, model.encode(x)), reduction)


def default_loss(model: nn.Module):
    """The loss ``fit`` and ``evaluate`` use for ``model``: the negative ELBO for a
    model with ``reparameterize`` (a VAE), the reconstruction loss otherwise."""
    return negative_elbo if hasattr(model, "reparameterize") else reconstruction_loss
