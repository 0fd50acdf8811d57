"""Models: shapes, the reparameterization, sampling, and the exact linear-Gaussian model."""

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch.distributions import MultivariateNormal, kl_divergence

from vaelib import MNIST_DIM, VAE, Autoencoder, LinearGaussian


def test_vae_default_sizes_are_the_source_model():
    model = VAE()
    assert (model.data_dim, model.hidden_dim, model.latent_dim) == (MNIST_DIM, 400, 20)
    # 784-400-(20+20) encoder and 20-400-784 decoder
    assert sum(p.numel() for p in model.parameters()) == (784 * 400 + 400) + 2 * (400 * 20 + 20) + (20 * 400 + 400) + (400 * 784 + 784)


def test_vae_shapes_and_logits(small_vae):
    x = torch.rand(4, 6)
    logits, mu, logvar = small_vae(x)
    assert logits.shape == (4, 6) and mu.shape == (4, 3) and logvar.shape == (4, 3)
    assert small_vae.decode(torch.full((2, 3), 50.0)).abs().max() > 1  # logits, not probabilities
    samples = small_vae.sample(16)
    assert samples.shape == (16, 6) and samples.min() >= 0 and samples.max() <= 1


def test_reparameterize_has_the_right_distribution_and_gradient(small_vae):
    mu = torch.tensor([[1.0, -2.0, 0.5]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0), math.log(0.25)]], requires_grad=True)
    z = small_vae.reparameterize(mu.expand(200_000, 3), logvar.expand(200_000, 3))
    torch.testing.assert_close(z.mean(0), mu[0].detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0, 0.5]), atol=0.02, rtol=0)
    z.mean(0).sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones(1, 3))  # dz/dmu = 1
    assert logvar.grad.abs().max() < 0.02  # d E[z] / d logvar = 0


def test_sample_is_reproducible_with_a_generator(small_vae):
    a = small_vae.sample(3, generator=torch.Generator().manual_seed(0))
    b = small_vae.sample(3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)


def test_model_input_errors(small_vae):
    with pytest.raises(ValueError, match=r"x must have 2 dimensions, got shape \(6,\)"):
        small_vae.encode(torch.rand(6))
    with pytest.raises(ValueError, match=r"z must have last dimension 3"):
        small_vae.decode(torch.rand(2, 4))
    with pytest.raises(ValueError, match="latent_dim must be a positive int, got 0"):
        VAE(latent_dim=0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        small_vae.sample(0)
    with pytest.raises(ValueError, match="hidden_dim must be a positive int"):
        Autoencoder(hidden_dim=2.5)


def test_autoencoder_is_deterministic():
    torch.manual_seed(0)
    model = Autoencoder(data_dim=6, hidden_dim=5, latent_dim=2)
    x = torch.rand(3, 6)
    assert model.encode(x).shape == (3, 2)
    torch.testing.assert_close(model(x), model(x))
    assert not hasattr(model, "reparameterize")


def _one_dim_model(w=1.5, b=0.5, s=0.7):
    return LinearGaussian(torch.tensor([[w]]), torch.tensor([b]), s)


def test_linear_gaussian_evidence_matches_quadrature():
    model = _one_dim_model()
    for x in (-1.0, 0.3, 2.5):
        integrand = lambda z: stats.norm.pdf(x, 1.5 * z + 0.5, 0.7) * stats.norm.pdf(z)  # noqa: E731
        by_quad, _ = integrate.quad(integrand, -np.inf, np.inf)
        exact = model.marginal().log_prob(torch.tensor([x], dtype=torch.float64)).item()
        assert exact == pytest.approx(math.log(by_quad), abs=1e-9)


def test_linear_gaussian_posterior_matches_bayes_on_a_grid():
    model = _one_dim_model()
    x = torch.tensor([[1.2]], dtype=torch.float64)
    grid = torch.linspace(-6, 6, 20001, dtype=torch.float64)
    log_joint = model.log_likelihood(x, grid.reshape(-1, 1, 1))[:, 0] + torch.distributions.Normal(0.0, 1.0).log_prob(grid)
    weights = torch.softmax(log_joint, dim=0)  # Bayes: p(z | x) ∝ p(x | z) p(z)
    mean = (weights * grid).sum()
    var = (weights * (grid - mean) ** 2).sum()
    post = model.posterior(x)
    assert mean.item() == pytest.approx(post.mean.item(), abs=1e-8)
    assert var.item() == pytest.approx(post.covariance_matrix.item(), abs=1e-8)


def test_linear_gaussian_encode_is_the_mean_field_optimum():
    weight = torch.tensor([[1.0, 0.5], [0.2, -1.0], [0.7, 0.3]])
    model = LinearGaussian(weight, torch.zeros(3), 0.5)
    x = torch.tensor([[0.4, -0.2, 1.0]])
    mu, logvar = model.encode(x)
    post = model.posterior(x)

    def kl_to_posterior(log_variances):
        q = MultivariateNormal(mu, covariance_matrix=torch.diag_embed(log_variances.exp()))
        return kl_divergence(q, post).item()

    best = kl_to_posterior(logvar)
    assert best > 0  # W^T W is not diagonal, so no diagonal q is exact
    for shift in (torch.tensor([0.1, 0.0]), torch.tensor([0.0, -0.1])):
        assert kl_to_posterior(logvar + shift) > best
    exact_1d = _one_dim_model()
    mu1, logvar1 = exact_1d.encode(x[:, :1])
    assert logvar1.exp().item() == pytest.approx(exact_1d.posterior(x[:, :1]).covariance_matrix.item())


def test_linear_gaussian_rejects_bad_parameters():
    with pytest.raises(ValueError, match="noise_std must be positive"):
        LinearGaussian(torch.ones(2, 1), torch.zeros(2), 0.0)
    with pytest.raises(ValueError, match=r"bias must have last dimension 2"):
        LinearGaussian(torch.ones(2, 1), torch.zeros(3), 1.0)


def test_linear_gaussian_elbo_matches_monte_carlo_and_touches_log_evidence():
    torch.manual_seed(31)
    weight = torch.tensor([[1.0, 0.5], [0.2, -1.0], [0.7, 0.3]])
    model = LinearGaussian(weight, torch.tensor([0.1, -0.3, 0.2]), 0.6)
    x = torch.tensor([[0.4, -0.2, 1.0], [1.5, 0.5, -0.7]], dtype=torch.float64)
    mu = torch.tensor([[0.3, -0.1], [0.9, 0.2]], dtype=torch.float64)
    logvar = torch.tensor([[-1.0, -0.5], [-0.2, -1.5]], dtype=torch.float64)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 2, 2, dtype=torch.float64)
    integrand = (
        model.log_likelihood(x, z)
        + torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
        - torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(-1)
    )
    stderr = integrand.std(0) / 400_000**0.5
    assert ((integrand.mean(0) - model.elbo(x, mu, logvar)).abs() < 4 * stderr).all()
    assert (model.elbo(x, mu, logvar) < model.marginal().log_prob(x)).all()
    one_dim = _one_dim_model()
    x1 = torch.tensor([[2.0], [-0.5]], dtype=torch.float64)
    torch.testing.assert_close(one_dim.elbo(x1, *one_dim.encode(x1)), one_dim.marginal().log_prob(x1))
