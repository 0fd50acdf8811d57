"""The negative ELBO, the β objective with free bits, and the reconstruction loss:
their terms, reductions, gradients and errors."""

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

import vaelib
from vaelib import Autoencoder, beta_objective, elbo_terms, negative_elbo, reconstruction_loss


def _binary(batch, dim, seed=0):
    return torch.bernoulli(torch.full((batch, dim), 0.3), generator=torch.Generator().manual_seed(seed))


def test_negative_elbo_equals_an_independent_computation(small_vae):
    x = _binary(8, 6)
    torch.manual_seed(11)
    got = negative_elbo(small_vae, x, reduction="none")
    torch.manual_seed(11)  # the same eps, drawn by hand
    mu, logvar = small_vae.encode(x)
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn_like(std)
    log_px_z = Bernoulli(logits=small_vae.decode(z)).log_prob(x).sum(-1)
    kl = kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(got, -(log_px_z - kl))


def test_reductions_agree(small_vae):
    x = _binary(9, 6)
    values = {}
    for reduction in ("none", "sum", "mean"):
        torch.manual_seed(12)
        values[reduction] = negative_elbo(small_vae, x, reduction=reduction)
    assert values["none"].shape == (9,)
    torch.testing.assert_close(values["sum"] / 9, values["mean"])
    torch.testing.assert_close(values["none"].mean(), values["mean"])


def test_beta_weights_only_the_kl(small_vae):
    x = _binary(5, 6)
    torch.manual_seed(13)
    reconstruction, kl = elbo_terms(small_vae, x)
    losses = {}
    for beta in (0.0, 1.0, 4.0):
        torch.manual_seed(13)
        losses[beta] = negative_elbo(small_vae, x, beta=beta, reduction="none")
    torch.testing.assert_close(losses[0.0], -reconstruction)
    torch.testing.assert_close(losses[4.0] - losses[1.0], 3.0 * kl)
    assert (kl > 0).all()


def test_loss_argument_errors(small_vae):
    x = _binary(2, 6)
    with pytest.raises(ValueError, match="reduction must be one of .* got 'avg'"):
        negative_elbo(small_vae, x, reduction="avg")
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        negative_elbo(small_vae, x, beta=-1.0)
    with pytest.raises(ValueError, match="reduction must be one of"):
        reconstruction_loss(Autoencoder(6, 5, 2), x, reduction="batch")
    with pytest.raises(ValueError, match=r"x must have last dimension 6, got shape \(2, 7\)"):
        negative_elbo(small_vae, _binary(2, 7))


def test_reconstruction_loss_is_the_autoencoders_bernoulli_nll():
    torch.manual_seed(14)
    model = Autoencoder(data_dim=6, hidden_dim=5, latent_dim=2)
    x = _binary(4, 6)
    expected = -Bernoulli(logits=model(x)).log_prob(x).sum(-1)
    torch.testing.assert_close(reconstruction_loss(model, x, reduction="none"), expected)
    torch.testing.assert_close(reconstruction_loss(model, x, reduction="sum"), expected.sum())


def test_beta_objective_without_free_bits_is_the_beta_weighted_negative_elbo(small_vae):
    x = _binary(16, 6)
    for beta in (0.5, 1.0, 3.0):
        torch.manual_seed(21)
        expected = negative_elbo(small_vae, x, beta=beta)
        torch.manual_seed(21)
        torch.testing.assert_close(beta_objective(small_vae, x, beta=beta), expected)
    torch.manual_seed(21)
    total = beta_objective(small_vae, x, beta=2.0, reduction="sum")
    torch.manual_seed(21)
    torch.testing.assert_close(total, negative_elbo(small_vae, x, beta=2.0, reduction="sum"))


class _LeafEncoder(torch.nn.Module):
    """Wraps a VAE so that encode returns leaf tensors, whose gradients we can read."""

    def __init__(self, vae, x):
        super().__init__()
        self.vae = vae
        mu, logvar = vae.encode(x)
        self.mu = mu.detach().requires_grad_()
        self.logvar = logvar.detach().requires_grad_()

    def encode(self, x):
        return self.mu, self.logvar

    def reparameterize(self, mu, logvar):
        return self.vae.reparameterize(mu, logvar)

    def log_likelihood(self, x, z):
        return self.vae.log_likelihood(x, z)


def _code_gradients(model, x, free_bits, beta=1.0):
    model.mu.grad = model.logvar.grad = None
    torch.manual_seed(22)
    beta_objective(model, x, beta=beta, free_bits=free_bits).backward()
    return torch.cat([model.mu.grad, model.logvar.grad], dim=0)


def test_free_bits_change_gradients_only_below_the_threshold(small_vae):
    x = _binary(32, 6)
    model = _LeafEncoder(small_vae, x)
    with torch.no_grad():
        model.mu[:, 0] += 2.0  # dimension 0 carries more than a nat; the others less
    per_dim = vaelib.kl_normal_std(model.mu.unsqueeze(-1), model.logvar.unsqueeze(-1)).mean(0)
    threshold = 1.0
    above = per_dim > threshold
    assert above.any() and (~above).any()
    plain = _code_gradients(model, x, free_bits=0.0)
    freed = _code_gradients(model, x, free_bits=threshold)
    no_kl = _code_gradients(model, x, free_bits=0.0, beta=0.0)
    # above λ the free-bits gradient is the plain one; below, the KL contributes nothing
    torch.testing.assert_close(freed[:, above], plain[:, above])
    torch.testing.assert_close(freed[:, ~above], no_kl[:, ~above])
    assert not torch.allclose(plain[:, ~above], no_kl[:, ~above])
    # and the value counts λ for each dimension below it
    torch.manual_seed(22)
    value = beta_objective(model, x, free_bits=threshold)
    torch.manual_seed(22)
    base = beta_objective(model, x, beta=0.0)
    torch.testing.assert_close(value - base, per_dim.clamp(min=threshold).sum())


def test_beta_objective_rejects_bad_arguments(small_vae):
    x = _binary(4, 6)
    with pytest.raises(ValueError, match="free_bits must be a finite number >= 0"):
        beta_objective(small_vae, x, free_bits=-0.1)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):
        beta_objective(small_vae, x, beta=float("nan"))
    with pytest.raises(ValueError, match="reduction must be 'mean' or 'sum'"):
        beta_objective(small_vae, x, reduction="none")
