"""Each probability helper against torch.distributions or scipy.stats, on its own."""

import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch.distributions import Bernoulli, Normal, kl_divergence

from vaelib import bernoulli_log_likelihood, gaussian_log_likelihood, kl_normal_std, mc_estimate, value_checks

SHAPES = [(1, 1), (4, 3), (7, 20), (2, 5, 6)]


@pytest.mark.parametrize("shape", SHAPES)
def test_kl_matches_torch_distributions(shape):
    torch.manual_seed(1)
    mu, logvar = torch.randn(shape), torch.randn(shape)
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    got = kl_normal_std(mu, logvar)
    assert got.shape == shape[:-1]
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


def test_kl_is_nonnegative_and_zero_only_at_standard_normal():
    torch.manual_seed(2)
    mu, logvar = 3 * torch.randn(1000, 4), 3 * torch.randn(1000, 4)
    assert (kl_normal_std(mu, logvar) > 0).all()
    assert kl_normal_std(torch.zeros(2, 4), torch.zeros(2, 4)).abs().max() < 1e-7
    # a small move in either parameter makes it positive
    assert kl_normal_std(torch.tensor([[1e-2, 0.0]]), torch.zeros(1, 2)).item() > 0
    assert kl_normal_std(torch.zeros(1, 2), torch.tensor([[0.0, 1e-2]])).item() > 0


def test_kl_shape_mismatch_is_named():
    with pytest.raises(ValueError, match="mu and logvar must have the same shape"):
        kl_normal_std(torch.zeros(2, 3), torch.zeros(2, 4))


@pytest.mark.parametrize("shape", SHAPES)
def test_bernoulli_matches_torch_distributions_on_binary_pixels(shape):
    torch.manual_seed(3)
    logits = 4 * torch.randn(shape)
    x = torch.bernoulli(torch.full(shape, 0.4))
    expected = Bernoulli(logits=logits).log_prob(x).sum(-1)
    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), expected)


def test_bernoulli_on_grey_pixels_matches_the_formula():
    torch.manual_seed(4)
    x = torch.rand(5, 8, dtype=torch.float64)
    logits = torch.randn(5, 8, dtype=torch.float64)
    p = torch.sigmoid(logits)
    expected = (x * torch.log(p) + (1 - x) * torch.log1p(-p)).sum(-1)
    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), expected)


def test_bernoulli_is_stable_where_sigmoid_then_log_is_not():
    x = torch.tensor([[1.0, 0.0]])
    logits = torch.tensor([[-200.0, 200.0]])  # sigmoid rounds these to exactly 0 and 1
    naive = (x * torch.log(torch.sigmoid(logits)) + (1 - x) * torch.log(1 - torch.sigmoid(logits))).sum(-1)
    assert torch.isinf(naive).all()
    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), torch.tensor([-400.0]))


def test_bernoulli_broadcasts_over_leading_sample_dims():
    torch.manual_seed(5)
    x = torch.bernoulli(torch.full((3, 4), 0.5))
    logits = torch.randn(10, 3, 4)
    got = bernoulli_log_likelihood(x, logits)
    assert got.shape == (10, 3)
    torch.testing.assert_close(got[7], bernoulli_log_likelihood(x, logits[7]))


def test_bernoulli_rejects_pixels_outside_unit_interval():
    with pytest.raises(ValueError, match=r"x must hold pixel values in \[0, 1\].*\[-0\.5, 1\]"):
        bernoulli_log_likelihood(torch.tensor([[-0.5, 1.0]]), torch.zeros(1, 2))
    with pytest.raises(ValueError, match="x must hold pixel values"):
        bernoulli_log_likelihood(torch.tensor([[0.5, 255.0]]), torch.zeros(1, 2))
    with value_checks(False):  # fit switches the per-step check off after checking once
        bernoulli_log_likelihood(torch.tensor([[0.5, 255.0]]), torch.zeros(1, 2))


def test_bernoulli_rejects_mismatched_shapes_and_types():
    with pytest.raises(ValueError, match="x and logits must share the last dimension"):
        bernoulli_log_likelihood(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="logits must be a torch.Tensor, got ndarray"):
        bernoulli_log_likelihood(torch.zeros(2, 3), np.zeros((2, 3)))


@pytest.mark.parametrize("shape", SHAPES)
def test_gaussian_matches_torch_distributions(shape):
    torch.manual_seed(6)
    x, mean, logvar = torch.randn(shape), torch.randn(shape), torch.randn(shape)
    expected = Normal(mean, torch.exp(0.5 * logvar)).log_prob(x).sum(-1)
    torch.testing.assert_close(gaussian_log_likelihood(x, mean, logvar), expected)


def test_gaussian_matches_scipy_multivariate_normal_with_one_variance():
    rng = np.random.default_rng(7)
    x, mean = rng.normal(size=(6, 4)), rng.normal(size=4)
    sigma2 = 0.3
    expected = stats.multivariate_normal(mean, sigma2 * np.eye(4)).logpdf(x)
    got = gaussian_log_likelihood(torch.tensor(x), torch.tensor(mean), math.log(sigma2))
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)


def test_gaussian_rejects_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match="x, mean and logvar must broadcast together"):
        gaussian_log_likelihood(torch.zeros(2, 3), torch.zeros(2, 4), 0.0)


def test_mc_estimate_mean_and_standard_error():
    torch.manual_seed(8)
    draws = 2.0 + 3.0 * torch.randn(40_000, dtype=torch.float64)
    mean, stderr = mc_estimate(draws)
    assert stderr == pytest.approx(3.0 / math.sqrt(40_000), rel=0.02)
    assert abs(mean - 2.0) < 4 * stderr


def test_mc_estimate_rejects_bad_input():
    with pytest.raises(ValueError, match="at least 2 draws"):
        mc_estimate(torch.ones(1))
    with pytest.raises(ValueError, match="values must have 1 dimensions"):
        mc_estimate(torch.ones(2, 2))
