"""Log-densities, the Gaussian KL and Monte Carlo estimates, in nats.

Every function sums over the last dimension (one data point or latent vector) and
keeps the leading ones, so ``(n, D)`` inputs give ``(n,)`` outputs and ``(K, n, D)``
inputs give ``(K, n)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .utils import check_tensor, check_unit_interval

LOG_2PI = math.log(2.0 * math.pi)


def kl_normal_std(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) in nats, summed over the last dim.

    Math: ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1). Shapes: ``(n, L)`` → ``(n,)``.
    Introduced in chapter 3.
    """
    check_tensor(mu, "mu")
    check_tensor(logvar, "logvar")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must have the same shape, got {tuple(mu.shape)} and {tuple(logvar.shape)}")
    # σ² = exp(logvar), log σ² = logvar
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0).sum(dim=-1)


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for independent Bernoulli pixels with probabilities sigmoid(logits).

    Math: Σ_d [x_d log p_d + (1 − x_d) log(1 − p_d)], p_d = sigmoid(logits_d),
    computed from the logits so that it never takes log(0). ``x`` is in [0, 1]
    (grey levels are allowed, as in the source's loss). It is log p(x | z) only
    for binary ``x`` in {0, 1}; for grey-level ``x`` the result is the negative
    binary cross-entropy, not a log-likelihood (it is the log of no normalized
    distribution over images). Shapes: ``x`` ``(n, D)`` and
    ``logits`` ``(..., n, D)`` → ``(..., n)``. Introduced in chapter 5.
    """
    check_tensor(x, "x")
    check_tensor(logits, "logits")
    if x.dim() == 0 or x.shape[-1] != logits.shape[-1]:
        raise ValueError(
            f"x and logits must share the last dimension, got {tuple(x.shape)} and {tuple(logits.shape)}"
        )
    check_unit_interval(x, "x")
    x, logits = torch.broadcast_tensors(x, logits)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=-1)


CB_TAYLOR_BELOW = 1e-3  # |logit| under which log C uses its Taylor series


def continuous_bernoulli_log_normalizer(logits: torch.Tensor) -> torch.Tensor:
    """log C(λ) of the continuous Bernoulli, per entry, with λ = sigmoid(logits).

    Math: the density λ^x (1 − λ)^(1 − x) on [0, 1] integrates to 1 / C(λ), where
    C(λ) = 2 artanh(1 − 2λ) / (1 − 2λ) for λ ≠ ½ and C(½) = 2. In the logit l this
    is C = l / tanh(l / 2), computed as log|l| − log tanh(|l| / 2) away from l = 0
    and as log 2 + l² / 12 near it, where the closed form is 0 / 0
    (Loaiza-Ganem and Cunningham, 2019). Shapes are kept. Introduced in chapter 5.
    """
    check_tensor(logits, "logits")
    a = logits.abs()
    small = a < CB_TAYLOR_BELOW
    safe = torch.where(small, torch.ones_like(a), a)  # no 0 / 0 in the unused branch
    # log tanh(a / 2) = log(1 − e^(−a)) − log(1 + e^(−a))
    log_tanh = torch.log(-torch.expm1(-safe)) - torch.log1p(torch.exp(-safe))
    exact = torch.log(safe) - log_tanh
    return torch.where(small, math.log(2.0) + a.pow(2) / 12.0, exact)


def continuous_bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log p(x | z) for independent continuous-Bernoulli pixels: a density on [0, 1]^D.

    Math: Σ_d [x_d log λ_d + (1 − x_d) log(1 − λ_d) + log C(λ_d)], λ_d =
    sigmoid(logits_d): the Bernoulli term of ``bernoulli_log_likelihood`` plus the
    normalizer that makes it a proper density for grey levels. Shapes: ``x``
    ``(n, D)`` and ``logits`` ``(..., n, D)`` → ``(..., n)``. Introduced in chapter 5.
    """
    unnormalized = bernoulli_log_likelihood(x, logits)
    return unnormalized + continuous_bernoulli_log_normalizer(logits).sum(dim=-1)


def gaussian_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor | float
) -> torch.Tensor:
    """log N(x; mean, diag exp(logvar)), summed over the last dimension.

    Math: −½ Σ_d [log 2π + log σ_d² + (x_d − μ_d)² / σ_d²]. ``logvar`` may be a
    float (one σ² for every dimension) or a tensor that broadcasts. Also serves as
    log p(z) and log q(z | x) for latent vectors. Shapes: ``(..., D)`` → ``(...)``.
    Introduced in chapter 2.
    """
    check_tensor(x, "x")
    check_tensor(mean, "mean")
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device)
    try:
        x, mean, logvar = torch.broadcast_tensors(x, mean, logvar)
    except RuntimeError as err:
        raise ValueError(f"x, mean and logvar must broadcast together: {err}") from None
    # (x − μ)² / σ² with σ² = exp(logvar)
    return -0.5 * (LOG_2PI + logvar + (x - mean).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def mc_estimate(values: torch.Tensor) -> tuple[float, float]:
    """Monte Carlo mean of ``values`` and its standard error s / √N.

    ``values`` holds N draws of f(X), shape ``(N,)``. Introduced in chapter 1.
    """
    check_tensor(values, "values", ndim=1)
    n = values.numel()
    if n < 2:
        raise ValueError(f"values needs at least 2 draws for a standard error, got {n}")
    values = values.double()
    return values.mean().item(), (values.std(unbiased=True) / math.sqrt(n)).item()
