"""evaluate and the importance-sampled log p(x), against the exact model."""

import pytest
import torch

import vaelib

from vaelib import (
    Autoencoder,
    LinearGaussian,
    evaluate,
    importance_log_likelihood,
    nearest_distance,
    negative_elbo,
    reconstruction_loss,
)


class ShiftedEncoder(torch.nn.Module):
    """The exact model with a deliberately imperfect q: shifted mean, widened variance."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def encode(self, x):
        mu, logvar = self.model.encode(x)
        return mu + 0.4, logvar + 0.5

    def log_likelihood(self, x, z):
        return self.model.log_likelihood(x, z)


def _exact_model():
    weight = torch.tensor([[1.0, 0.5], [0.2, -1.0], [0.7, 0.3]])
    return LinearGaussian(weight, torch.tensor([0.1, -0.3, 0.2]), 0.6)


def test_importance_estimate_converges_to_exact_log_evidence():
    torch.manual_seed(21)
    model = _exact_model()
    x = torch.tensor([[0.4, -0.2, 1.0], [1.5, 0.5, -0.7]], dtype=torch.float64)
    exact = model.marginal().log_prob(x)
    q = ShiftedEncoder(model)
    one_sample = torch.stack([importance_log_likelihood(q, x, k=1) for _ in range(2000)]).mean(0)
    many = importance_log_likelihood(q, x, k=200_000, chunk_size=7000)
    assert ((exact - one_sample) > 0.1).all()  # the ELBO sits well below log p(x)
    # measured spread of this estimate over 30 seeds: about 0.003 nats; 0.015 is 5 of those
    torch.testing.assert_close(many, exact, atol=0.015, rtol=0)


def test_importance_estimate_grows_with_k():
    torch.manual_seed(22)
    q = ShiftedEncoder(_exact_model())
    x = torch.tensor([[0.4, -0.2, 1.0]], dtype=torch.float64).expand(4000, 3)
    means = [importance_log_likelihood(q, x, k=k).mean().item() for k in (1, 5, 50)]
    assert means[0] + 0.05 < means[1] < means[2] - 0.02


def test_k_equal_one_is_the_elbo_in_expectation(small_vae):
    torch.manual_seed(23)
    x = torch.bernoulli(torch.full((1, 6), 0.5)).expand(50_000, 6)
    with torch.no_grad():
        elbo = -negative_elbo(small_vae, x, reduction="none")
    one_sample = importance_log_likelihood(small_vae, x, k=1)
    stderr = (one_sample.std() / len(x) ** 0.5).item()
    assert abs(one_sample.mean().item() - elbo.double().mean().item()) < 5 * stderr
    assert stderr < 0.02


def test_importance_argument_errors(small_vae):
    x = torch.rand(2, 6)
    with pytest.raises(ValueError, match=r"k must be an int >= 1 .* got 0"):
        importance_log_likelihood(small_vae, x, k=0)
    with pytest.raises(ValueError, match="k must be an int"):
        importance_log_likelihood(small_vae, x, k=2.5)
    with pytest.raises(ValueError, match="chunk_size must be at least 1"):
        importance_log_likelihood(small_vae, x, k=3, chunk_size=0)


def test_evaluate_is_the_mean_loss_and_keeps_the_mode():
    torch.manual_seed(24)
    model = Autoencoder(data_dim=6, hidden_dim=5, latent_dim=2)
    images = torch.rand(10, 6)
    model.train()
    got = evaluate(model, images, batch_size=3)
    assert model.training
    assert got == pytest.approx(reconstruction_loss(model, images).item(), rel=1e-6)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        evaluate(model, images, batch_size=0)
    with pytest.raises(ValueError, match=r"images must have 2 dimensions"):
        evaluate(model, images[0])


def test_nearest_distance_matches_brute_force():
    torch.manual_seed(25)
    points, reference = torch.randn(50, 3), torch.randn(70, 3)
    brute = torch.tensor([min(torch.dist(p, r).item() for r in reference) for p in points])
    torch.testing.assert_close(nearest_distance(points, reference, chunk_size=7), brute, rtol=1e-5, atol=1e-5)
    assert nearest_distance(reference[:5], reference).abs().max() < 1e-3  # a point of the reference is at 0
    with pytest.raises(ValueError, match="reference must have last dimension 3"):
        nearest_distance(points, torch.randn(4, 2))
    with pytest.raises(ValueError, match="reference is empty"):
        nearest_distance(points, torch.randn(0, 3))


def test_importance_log_likelihood_refuses_grey_pixels_for_a_bernoulli_model():
    torch.manual_seed(0)
    model = vaelib.VAE(data_dim=12, hidden_dim=16, latent_dim=3)
    grey = torch.rand(4, 12)
    with pytest.raises(ValueError, match="cross-entropy, not the log of a probability"):
        vaelib.importance_log_likelihood(model, grey, k=5)
    # the training loss still takes grey pixels, as the source's does
    assert torch.isfinite(vaelib.negative_elbo(model, grey))
    # binary pixels, and grey pixels under a density on [0, 1], are accepted
    assert vaelib.importance_log_likelihood(model, torch.bernoulli(grey), k=5).shape == (4,)
    density = vaelib.VAE(data_dim=12, hidden_dim=16, latent_dim=3, likelihood="continuous_bernoulli")
    assert vaelib.importance_log_likelihood(density, grey, k=5).shape == (4,)
