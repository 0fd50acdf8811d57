"""The exact linear-Gaussian latent model, whose log p(x) and p(z | x) are known in closed
form, so that every estimate of the course can be checked against them (chapters 2, 3).

Like the neural models, it offers ``log_likelihood(x, z)`` = log p(x | z), shape
``(..., n)``, which the losses and the importance-sampling estimator call.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import MultivariateNormal

from .probability import gaussian_log_likelihood, kl_normal_std
from .utils import check_tensor


class LinearGaussian(nn.Module):
    """The exact latent model z ~ N(0, I_L), x | z ~ N(W z + b, s² I_D).

    Its evidence p(x) = N(b, W Wᵀ + s² I) and posterior p(z | x) = N(m, Σ) with
    Σ = (I + Wᵀ W / s²)⁻¹, m = Σ Wᵀ (x − b) / s² are closed forms, so every
    estimate of the course can be checked against them. ``weight`` is ``(D, L)``,
    ``bias`` ``(D,)``. Introduced in chapter 2.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, noise_std: float) -> None:
        super().__init__()
        check_tensor(weight, "weight", ndim=2)
        check_tensor(bias, "bias", ndim=1, last_dim=weight.shape[0])
        if not noise_std > 0:
            raise ValueError(f"noise_std must be positive, got {noise_std!r}")
        self.register_buffer("weight", weight.double())
        self.register_buffer("bias", bias.double())
        self.noise_std = float(noise_std)
        self.data_dim, self.latent_dim = weight.shape

    def marginal(self) -> MultivariateNormal:
        """p(x) = N(b, W Wᵀ + s² I), the evidence, as a torch distribution."""
        eye = torch.eye(self.data_dim, dtype=torch.float64, device=self.weight.device)
        cov = self.weight @ self.weight.T + self.noise_std**2 * eye
        return MultivariateNormal(self.bias, covariance_matrix=cov)

    def posterior(self, x: torch.Tensor) -> MultivariateNormal:
        """p(z | x) = N(m, Σ), batched over x ``(n, D)`` (means ``(n, L)``)."""
        check_tensor(x, "x", ndim=2, last_dim=self.data_dim)
        cov = torch.linalg.inv(self.posterior_precision())
        mean = (x.double() - self.bias) @ self.weight @ cov.T / self.noise_std**2
        return MultivariateNormal(mean, covariance_matrix=cov)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) = log N(x; W z + b, s² I): x ``(n, D)``, z ``(..., n, L)`` → ``(..., n)``."""
        check_tensor(z, "z", last_dim=self.latent_dim)
        mean = z.double() @ self.weight.T + self.bias
        return gaussian_log_likelihood(x.double(), mean, 2.0 * torch.log(torch.tensor(self.noise_std)))

    def posterior_precision(self) -> torch.Tensor:
        """Σ⁻¹ = I + Wᵀ W / s², the posterior precision, ``(L, L)`` (the same for every x)."""
        eye = torch.eye(self.latent_dim, dtype=torch.float64, device=self.weight.device)
        return eye + self.weight.T @ self.weight / self.noise_std**2

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The best diagonal q(z | x): mean m and variances 1 / diag(Σ⁻¹).

        These minimize KL(q || p(z | x)) over diagonal Gaussians (mean-field), and q is
        exact when Wᵀ W is diagonal (always when L = 1). Shapes ``(n, D)`` → ``(n, L)``.
        """
        mean = self.posterior(x).mean
        logvar = -torch.log(torch.diagonal(self.posterior_precision()))
        return mean, logvar.expand_as(mean)

    def elbo(self, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """The exact ELBO of q(z | x) = N(mu, diag exp(logvar)), no sampling.

        Math: E_q[log p(x | z)] − KL(q || N(0, I)), where
        E_q[log p(x | z)] = log N(x; W mu + b, s² I) − Σ_d Σ_j W_dj² σ_j² / (2 s²).
        It equals log p(x) exactly when q is the posterior. Shapes: x ``(n, D)``,
        mu and logvar ``(n, L)`` → ``(n,)``. Introduced in chapter 3.
        """
        check_tensor(x, "x", ndim=2, last_dim=self.data_dim)
        check_tensor(mu, "mu", ndim=2, last_dim=self.latent_dim)
        mu, logvar = mu.double(), logvar.double()
        log_s2 = 2.0 * torch.log(torch.tensor(self.noise_std, dtype=torch.float64))
        at_mean = gaussian_log_likelihood(x.double(), mu @ self.weight.T + self.bias, log_s2)
        spread = (logvar.exp() @ self.weight.pow(2).T).sum(dim=-1) / (2.0 * self.noise_std**2)
        return at_mean - spread - kl_normal_std(mu, logvar)
