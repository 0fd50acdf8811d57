"""vaelib.diagnostics: rate and distortion, KL per latent dimension, active units and
mutual information, against closed forms, torch.distributions and models built so
that the answer is known."""

import math

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal, kl_divergence

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


def _small_vae(seed: int = 1) -> vaelib.VAE:
    torch.manual_seed(seed)
    return vaelib.VAE(data_dim=12, hidden_dim=16, latent_dim=3)


def test_rate_and_distortion_sum_to_the_negative_elbo_draw_for_draw():
    model = _small_vae()
    x = torch.bernoulli(torch.full((40, 12), 0.3))
    torch.manual_seed(7)
    rate, distortion = vaelib.rate_distortion(model, x)
    torch.manual_seed(7)
    loss = vaelib.negative_elbo(model, x, reduction="none")
    assert rate.shape == distortion.shape == (40,)
    assert torch.allclose(rate + distortion, loss.detach(), atol=1e-5)
    mu, logvar = model.encode(x)
    assert torch.allclose(rate, vaelib.kl_normal_std(mu, logvar).detach(), atol=1e-6)
    # the rate is exact: batches and draws do not change it
    rate_b, _ = vaelib.rate_distortion(model, x, samples=3, batch_size=7)
    assert torch.allclose(rate, rate_b, atol=1e-6)


def test_distortion_matches_its_closed_form_on_the_linear_gaussian_model():
    # E_q[-log N(x; W z + b, s² I)] = D/2 log(2π s²) + (|x − W μ − b|² + Σ_d Σ_j W_dj² σ_j²) / (2 s²)
    torch.manual_seed(2)
    data_dim, latent_dim, s = 6, 2, 0.5
    model = vaelib.LinearGaussian(torch.randn(data_dim, latent_dim), torch.randn(data_dim), s)
    x = model.marginal().sample((5,))
    mu, logvar = model.encode(x)
    w, b = model.weight, model.bias
    closed = data_dim / 2 * math.log(2 * math.pi * s**2) + (
        (x - mu @ w.T - b).pow(2).sum(-1) + (logvar.exp() @ w.pow(2).T).sum(-1)
    ) / (2 * s**2)
    torch.manual_seed(3)
    samples = 50_000
    _, distortion = vaelib.rate_distortion(model, x, samples=samples)
    # the Monte Carlo standard error, from a second set of draws
    z = mu + torch.exp(0.5 * logvar) * torch.randn((samples, *mu.shape), dtype=torch.float64)
    stderr = model.log_likelihood(x, z).std(0) / math.sqrt(samples)
    assert ((distortion - closed).abs() < 4 * stderr).all()
    assert (stderr < 0.01 * closed).all()
    # and the sum is the exact negative ELBO of this q
    rate, _ = vaelib.rate_distortion(model, x)
    assert torch.allclose(rate + closed, -model.elbo(x, mu, logvar), atol=1e-9)


class _FixedEncoder(torch.nn.Module):
    """q(z | x_n) = N(means[n], diag exp(logvars[n])), where x_n holds the index n."""

    def __init__(self, means, logvars):
        super().__init__()
        self.register_buffer("means", means)
        self.register_buffer("logvars", logvars)

    def encode(self, x):
        index = x[:, 0].long()
        return self.means[index], self.logvars[index]


def test_mutual_information_matches_the_mixture_of_torch_distributions():
    torch.manual_seed(4)
    n, latent = 30, 2
    model = _FixedEncoder(torch.randn(n, latent), torch.randn(n, latent) * 0.5)
    x = torch.arange(n, dtype=torch.float64)[:, None]
    estimate = vaelib.mutual_information(model, x, samples=4, chunk_size=7, generator=torch.Generator().manual_seed(5))
    eps = torch.randn((4, n, latent), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    mu, std = model.means.double(), torch.exp(0.5 * model.logvars.double())
    z = mu + std * eps  # (4, n, L)
    own = Normal(mu, std).log_prob(z).sum(-1)
    mixture = MixtureSameFamily(Categorical(torch.ones(n, dtype=torch.float64)), Independent(Normal(mu, std), 1))
    expected = (own - mixture.log_prob(z)).mean()
    assert abs(estimate - expected.item()) < 1e-9
    # the chunk size changes how the table is built, not the answer
    again = vaelib.mutual_information(model, x, samples=4, chunk_size=1000, generator=torch.Generator().manual_seed(5))
    assert abs(again - estimate) < 1e-9


def test_mutual_information_is_zero_for_a_collapsed_code_and_log_n_for_separate_codes():
    n = 8
    x = torch.arange(n, dtype=torch.float64)[:, None]
    collapsed = _FixedEncoder(torch.full((n, 2), 0.3), torch.zeros(n, 2))
    assert abs(vaelib.mutual_information(collapsed, x, samples=3)) < 1e-12
    apart = _FixedEncoder(torch.arange(n, dtype=torch.float64)[:, None].repeat(1, 2) * 100.0, torch.zeros(n, 2))
    assert abs(vaelib.mutual_information(apart, x, samples=3) - math.log(n)) < 1e-9


def test_mutual_information_lies_below_the_rate_on_a_vae():
    model = _small_vae(3)
    with torch.no_grad():
        model.fc_mu.weight.mul_(4.0)  # codes that move with x
    x = torch.bernoulli(torch.full((200, 12), 0.5))
    info = vaelib.mutual_information(model, x, samples=5)
    rate, _ = vaelib.rate_distortion(model, x)
    assert 0.1 < info < min(math.log(200), rate.mean().item())


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: vaelib.rate_distortion(m, torch.rand(4, 12), samples=0), "samples must be an int >= 1"),
        (lambda m: vaelib.rate_distortion(m, torch.rand(12)), "x must have 2 dimensions"),
        (lambda m: vaelib.mutual_information(m, torch.rand(1, 12)), "at least 2"),
        (lambda m: vaelib.mutual_information(m, torch.rand(5, 12), chunk_size=0), "chunk_size must be an int >= 1"),
    ],
)
def test_rate_distortion_and_mutual_information_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(_small_vae())
