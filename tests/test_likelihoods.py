"""The VAE's likelihoods chosen by name, the continuous Bernoulli's normalizer, and
fit's dynamic binarization, each against torch.distributions, quadrature or counts."""

import math

import pytest
import torch
from scipy import integrate
from torch.distributions import Bernoulli, ContinuousBernoulli, Normal

import vaelib
from vaelib import (
    VAE,
    continuous_bernoulli_log_likelihood,
    continuous_bernoulli_log_normalizer,
    fit,
    negative_elbo,
)


@pytest.mark.parametrize("logit", [-9.0, -2.5, -0.3, -2e-3, -1e-3, -5e-4, 0.0, 1e-7, 7e-4, 1e-3, 0.02, 1.0, 6.0])
def test_continuous_bernoulli_density_integrates_to_one(logit):
    """Quadrature of exp(log density) over [0, 1], on both sides of the Taylor switch."""
    log_c = continuous_bernoulli_log_normalizer(torch.tensor(logit, dtype=torch.float64)).item()
    log_lam, log_one_minus = -math.log1p(math.exp(-logit)), -math.log1p(math.exp(logit))
    total, _ = integrate.quad(lambda x: math.exp(x * log_lam + (1 - x) * log_one_minus + log_c), 0.0, 1.0)
    assert abs(total - 1.0) < 1e-12


def test_continuous_bernoulli_normalizer_at_one_half_and_continuous_across_the_switch():
    at_zero = continuous_bernoulli_log_normalizer(torch.zeros((), dtype=torch.float64)).item()
    assert at_zero == pytest.approx(math.log(2.0), abs=1e-15)  # C(½) = 2
    # just below and above the switch from the Taylor series to the closed form
    edge = torch.tensor([0.999e-3, 1.001e-3], dtype=torch.float64)
    below, above = continuous_bernoulli_log_normalizer(edge).tolist()
    assert abs(above - below) < 1e-9  # the two branches meet
    assert above > below  # and log C still rises with |l|


def test_continuous_bernoulli_log_likelihood_matches_torch_distributions():
    torch.manual_seed(0)
    x = torch.rand(5, 30, dtype=torch.float64)
    logits = 4 * torch.randn(3, 5, 30, dtype=torch.float64)
    logits = logits + 0.5 * torch.sign(logits)  # torch's own series covers λ near ½ less exactly
    expected = ContinuousBernoulli(logits=logits).log_prob(x).sum(-1)
    got = continuous_bernoulli_log_likelihood(x, logits)
    assert got.shape == (3, 5)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)


def _model_and_batch(likelihood, sigma_x=None, binary=False):
    torch.manual_seed(3)
    model = VAE(data_dim=12, hidden_dim=8, latent_dim=3, likelihood=likelihood, sigma_x=sigma_x).double()
    x = torch.rand(6, 12, dtype=torch.float64)
    if binary:
        x = torch.bernoulli(x)
    z = torch.randn(4, 6, 3, dtype=torch.float64)
    return model, x, z, model.decode(z)


def test_bernoulli_vae_is_torch_bernoulli_on_binary_pixels():
    model, x, z, logits = _model_and_batch("bernoulli", binary=True)
    expected = Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, z), expected)


def test_continuous_bernoulli_vae_is_torch_continuous_bernoulli():
    model, x, z, logits = _model_and_batch("continuous_bernoulli")
    expected = ContinuousBernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, z), expected, rtol=1e-8, atol=1e-8)
    # its decoded image is the distribution's mean, not its parameter λ
    torch.testing.assert_close(model.pixel_mean(z), ContinuousBernoulli(logits=logits).mean)
    assert (model.pixel_mean(z) - torch.sigmoid(logits)).abs().max() > 1e-3


@pytest.mark.parametrize("sigma_x", [0.1, 1.0])
def test_gaussian_vae_with_fixed_sigma_is_torch_normal(sigma_x):
    model, x, z, logits = _model_and_batch("gaussian", sigma_x=sigma_x)
    expected = Normal(torch.sigmoid(logits), sigma_x).log_prob(x).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, z), expected)
    assert not any("sigma" in name for name, _ in model.named_parameters())  # fixed: not trained


@pytest.mark.parametrize(("sigma_x", "shape"), [("learned", ()), ("learned_per_pixel", (12,))])
def test_gaussian_vae_with_learned_sigma(sigma_x, shape):
    model, x, z, logits = _model_and_batch("gaussian", sigma_x=sigma_x)
    assert model.log_sigma2_x.shape == shape
    with torch.no_grad():  # some other σ_x than the initial 1, different per pixel where it can be
        model.log_sigma2_x.copy_(torch.linspace(-3.0, 1.0, 12).mean() if shape == () else torch.linspace(-3.0, 1.0, 12))
    sigma = torch.exp(0.5 * model.log_sigma2_x)
    expected = Normal(torch.sigmoid(logits), sigma).log_prob(x).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, z), expected)
    # σ_x is trained with the rest of the model
    negative_elbo(model, x).backward()
    assert model.log_sigma2_x.grad is not None and model.log_sigma2_x.grad.abs().min() > 0


def test_the_default_likelihood_is_the_sources_and_keeps_the_state_dict():
    torch.manual_seed(5)
    default = VAE(data_dim=12, hidden_dim=8, latent_dim=3)
    torch.manual_seed(5)
    gaussian = VAE(data_dim=12, hidden_dim=8, latent_dim=3, likelihood="gaussian", sigma_x="learned")
    assert default.likelihood == "bernoulli"
    assert set(gaussian.state_dict()) - set(default.state_dict()) == {"log_sigma2_x"}
    # the same seed draws the same layers whatever the likelihood
    for name, tensor in default.state_dict().items():
        torch.testing.assert_close(tensor, gaussian.state_dict()[name], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"likelihood": "poisson"}, "likelihood must be one of"),
        ({"likelihood": "gaussian"}, "needs sigma_x"),
        ({"likelihood": "gaussian", "sigma_x": 0.0}, "needs sigma_x"),
        ({"likelihood": "gaussian", "sigma_x": "per_pixel"}, "needs sigma_x"),
        ({"likelihood": "bernoulli", "sigma_x": 0.5}, "sigma_x is for likelihood='gaussian' only"),
    ],
)
def test_bad_likelihood_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VAE(data_dim=12, hidden_dim=8, latent_dim=3, **kwargs)


def _recording_loss(seen):
    def loss_fn(model, x, reduction="mean"):
        seen.append(x.detach().clone())
        return negative_elbo(model, x, reduction=reduction)

    return loss_fn


class _Recorded(vaelib.NegativeELBO):
    """The negative ELBO, keeping each batch it is computed on (after binarization)."""

    def __init__(self, seen, binarize):
        super().__init__(binarize)
        self.seen = seen

    def loss(self, model, x, reduction, labels):
        self.seen.append(x.detach().clone())
        return super().loss(model, x, reduction, labels)


def test_fit_binarizes_each_batch_afresh():
    torch.manual_seed(7)
    images = torch.full((64, 12), 0.3)
    images[:, :6] = 0.8
    seen = []
    model = VAE(data_dim=12, hidden_dim=8, latent_dim=3)
    fit(model, images, epochs=2, batch_size=64, device="cpu", progress=False, objective=_Recorded(seen, binarize=True))
    first, second = seen  # one full batch per epoch
    for batch in seen:
        assert set(batch.unique().tolist()) == {0.0, 1.0}
    # fresh draws: the two epochs' binary images differ (the batch order aside, as
    # the images are identical), and the ink follows the grey levels
    assert (first != second).any()
    both = torch.cat(seen)
    assert abs(both[:, :6].mean().item() - 0.8) < 0.05 and abs(both[:, 6:].mean().item() - 0.3) < 0.05


def test_fit_without_binarize_trains_on_the_grey_levels_as_given():
    images = torch.full((64, 12), 0.3)
    seen = []
    fit(VAE(data_dim=12, hidden_dim=8, latent_dim=3), images, epochs=1, batch_size=64, device="cpu",
        progress=False, objective=_recording_loss(seen))
    assert torch.equal(seen[0], images)
    with pytest.raises(ValueError, match="binarize must be True or False"):
        vaelib.NegativeELBO(binarize=1)
