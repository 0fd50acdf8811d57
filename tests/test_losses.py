"""The negative ELBO and reconstruction loss: their terms, reductions and errors."""

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

from vaelib import Autoencoder, elbo_terms, negative_elbo, reconstruction_loss


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
    with pytest.raises(ValueError, match="beta must be non-negative"):
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
