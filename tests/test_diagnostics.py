"""vaelib.diagnostics: KL per latent dimension and active units, against
torch.distributions and against models built so that the answer is known."""

import pytest
import torch
from torch.distributions import Normal, kl_divergence

import vaelib


def _model_with_dead_dimensions(dead: list[int]) -> vaelib.VAE:
    """A small VAE whose code mean ignores x along the ``dead`` dimensions."""
    torch.manual_seed(0)
    model = vaelib.VAE(data_dim=12, hidden_dim=16, latent_dim=5)
    with torch.no_grad():
        model.fc_mu.weight[dead] = 0.0
    return model


def test_kl_per_dimension_matches_torch_distributions_and_sums_to_the_kl_term():
    torch.manual_seed(1)
    model = vaelib.VAE(data_dim=12, hidden_dim=16, latent_dim=5)
    x = torch.rand(50, 12)
    per_dim = vaelib.kl_per_dimension(model, x, batch_size=7)
    mu, logvar = model.encode(x)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    assert per_dim.shape == (5,)
    assert torch.allclose(per_dim, expected.detach(), atol=1e-6)
    assert torch.allclose(per_dim.sum(), vaelib.kl_normal_std(mu, logvar).mean().detach(), atol=1e-5)


def test_active_units_counts_the_dimensions_whose_mean_moves_with_x():
    model = _model_with_dead_dimensions([1, 3])
    x = torch.rand(200, 12)
    variances = vaelib.posterior_mean_variance(model, x)
    assert variances[[1, 3]].max() == 0.0
    assert variances[[0, 2, 4]].min() > 0.0
    threshold = variances[[0, 2, 4]].min().item() / 2
    assert vaelib.active_units(model, x, threshold=threshold) == 3
    # above every variance, no unit is active
    assert vaelib.active_units(model, x, threshold=variances.max().item() * 2) == 0


def test_posterior_mean_variance_is_the_variance_over_images():
    model = _model_with_dead_dimensions([])
    x = torch.rand(64, 12)
    mu, _ = model.encode(x)
    assert torch.allclose(vaelib.posterior_mean_variance(model, x, batch_size=10), mu.detach().var(0), rtol=1e-5)


def test_diagnostics_leave_the_model_in_its_mode():
    model = _model_with_dead_dimensions([])
    model.train()
    vaelib.active_units(model, torch.rand(10, 12))
    assert model.training


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: vaelib.active_units(m, torch.rand(10, 12), threshold=0.0), "threshold"),
        (lambda m: vaelib.active_units(m, torch.rand(1, 12)), "at least 2"),
        (lambda m: vaelib.kl_per_dimension(m, torch.rand(10)), "x"),
        (lambda m: vaelib.kl_per_dimension(m, torch.rand(10, 12), batch_size=0), "batch_size"),
    ],
)
def test_bad_input_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(_model_with_dead_dimensions([]))
