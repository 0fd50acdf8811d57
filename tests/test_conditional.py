"""Chapter 7's models: the conditional VAE and its labels through the losses, fit,
evaluate and importance sampling; the convolutional VAE with the VAE's interface."""

import math

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

import vaelib
from vaelib import ConditionalVAE, ConvVAE


def _cvae(seed=0, **sizes):
    torch.manual_seed(seed)
    return ConditionalVAE(**{"data_dim": 12, "hidden_dim": 16, "latent_dim": 3, "num_classes": 4, **sizes})


def _binary(batch, dim, seed=0):
    return torch.bernoulli(torch.full((batch, dim), 0.4), generator=torch.Generator().manual_seed(seed))


def test_sample_draws_one_image_per_label_decoded_under_that_label():
    model = _cvae()
    labels = torch.tensor([3, 0, 2, 2, 1])
    images = model.sample(labels, generator=torch.Generator().manual_seed(7))
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(7))
    one_hot = torch.nn.functional.one_hot(labels, 4).float()
    expected = torch.sigmoid(model.decoder(torch.cat([z, one_hot], -1)))
    assert images.shape == (5, 12)
    torch.testing.assert_close(images, expected)


def test_sample_honours_its_labels_when_the_decoder_reads_only_the_label():
    # a decoder whose output is a fixed pattern per class, whatever z is
    model = _cvae(hidden_dim=4, num_classes=4)
    patterns = torch.eye(4).repeat(1, 3) * 20 - 10  # (4 classes, 12 pixels): ±10 logits
    with torch.no_grad():
        first, _, last = model.decoder
        first.weight.zero_()
        first.weight[:, 3:] = torch.eye(4)  # hidden unit k = 1 when the label is k
        first.bias.zero_()
        last.weight.copy_(patterns.T)
        last.bias.zero_()
    labels = torch.tensor([2, 0, 3, 1, 2])
    images = model.sample(labels)
    assert torch.equal(images.round(), torch.sigmoid(patterns[labels]).round())


def test_the_conditional_negative_elbo_matches_torch_distributions():
    model = _cvae(1)
    x, labels = _binary(8, 12), torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])
    torch.manual_seed(5)
    loss = vaelib.negative_elbo(model, x, labels=labels, reduction="none")
    torch.manual_seed(5)
    one_hot = torch.nn.functional.one_hot(labels, 4).float()
    hidden = model.encoder(torch.cat([x, one_hot], -1))
    mu, std = model.fc_mu(hidden), torch.exp(0.5 * model.fc_logvar(hidden))
    z = mu + std * torch.randn_like(std)
    logits = model.decoder(torch.cat([z, one_hot], -1))
    expected = -Bernoulli(logits=logits).log_prob(x).sum(-1) + kl_divergence(Normal(mu, std), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(loss, expected)
    # the labels matter: other labels, another loss
    torch.manual_seed(5)
    other = vaelib.negative_elbo(model, x, labels=(labels + 1) % 4, reduction="none")
    assert not torch.allclose(loss, other)


def test_evaluate_and_importance_sampling_take_labels():
    model = _cvae(2)
    x, labels = _binary(6, 12, seed=1), torch.tensor([1, 1, 0, 3, 2, 0])
    torch.manual_seed(3)
    mean = vaelib.evaluate(model, x, labels=labels, batch_size=4)
    torch.manual_seed(3)
    first = vaelib.negative_elbo(model, x[:4], labels=labels[:4], reduction="sum")
    second = vaelib.negative_elbo(model, x[4:], labels=labels[4:], reduction="sum")
    assert mean == pytest.approx((first + second).item() / 6, rel=1e-6)
    # log p(x | y) by importance sampling, against the same estimate written out
    torch.manual_seed(4)
    estimate = vaelib.importance_log_likelihood(model, x, k=50, chunk_size=20, labels=labels)
    torch.manual_seed(4)
    mu, logvar = model.encode(x, labels)
    std = torch.exp(0.5 * logvar)
    draws = [mu + std * torch.randn((c, *mu.shape)) for c in (20, 20, 10)]
    z = torch.cat(draws)
    log_w = (
        model.log_likelihood(x, z, labels)
        + Normal(0.0, 1.0).log_prob(z).sum(-1)
        - Normal(mu, std).log_prob(z).sum(-1)
    )
    expected = torch.logsumexp(log_w.double(), 0) - math.log(50)
    torch.testing.assert_close(estimate, expected.detach(), rtol=1e-5, atol=1e-5)


def test_fit_keeps_each_label_with_its_image():
    # each class is one fixed image, so a model given the right labels needs no code;
    # with the labels shuffled against the images it cannot learn that
    patterns = torch.bernoulli(torch.full((4, 12), 0.5), generator=torch.Generator().manual_seed(0))
    labels = torch.arange(4).repeat(64)
    images = patterns[labels]
    shuffled = labels[torch.randperm(len(labels), generator=torch.Generator().manual_seed(1))]
    losses = {}
    for name, train_labels in [("aligned", labels), ("shuffled", shuffled)]:
        model = _cvae(3)
        history = vaelib.fit(
            model, (images, train_labels), (images, train_labels), epochs=30, batch_size=32, lr=1e-2,
            device="cpu", progress=False,
        )
        losses[name] = history.test_loss[-1]
    assert losses["aligned"] < 1.0 < losses["shuffled"]


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m: m.sample(torch.tensor([0, 4])), ValueError, r"class indices in \[0, 4\), got values in \[0, 4\]"),
        (lambda m: m.sample(torch.tensor([-1])), ValueError, "class indices"),
        (lambda m: m.sample(torch.tensor([0.0, 1.0])), TypeError, "int64 class indices"),
        (lambda m: m.encode(torch.rand(3, 12), torch.tensor([0, 1])), ValueError, "one label per image: 3 images, 2"),
        (lambda m: vaelib.negative_elbo(m, torch.rand(3, 12)), ValueError, "ConditionalVAE is conditional: pass labels"),
        (lambda m: vaelib.evaluate(m, torch.rand(3, 12), labels=torch.tensor([0, 1])), ValueError,
         "labels must hold one label per image: 3 images, 2 labels"),
        (lambda m: vaelib.negative_elbo(vaelib.VAE(12, 8, 2), torch.rand(3, 12), labels=torch.tensor([0, 1, 2])),
         ValueError, "VAE is not conditional"),
    ],
)
def test_bad_labels_are_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(_cvae())


def test_fit_rejects_missing_or_misfit_labels():
    x = _binary(10, 12)
    y = torch.zeros(10, dtype=torch.int64)
    cases = [
        (_cvae(), x, None, r"ConditionalVAE is conditional: pass its labels with the images, fit\(model, \(train_images"),
        (_cvae(), (x, y[:9]), None, "train_labels must hold one label per image: 10 images, 9 labels"),
        (_cvae(), (x, y), x, r"pass \(test_images, test_labels\) as the test data"),
        (_cvae(), (x, y + 7), None, r"train_labels must be class indices in \[0, 4\)"),
        (_cvae(), (x, y), (x, y[:3]), "test_labels must hold one label per image: 10 images, 3 labels"),
        (vaelib.VAE(12, 8, 2), (x, y), None, "VAE is not conditional: pass the images alone"),
        (vaelib.VAE(12, 8, 2), x, (x, y), "VAE is not conditional"),
    ]
    for model, train, test, message in cases:
        with pytest.raises(ValueError, match=message):
            vaelib.fit(model, train, test, epochs=1, device="cpu", progress=False)


def test_the_conv_vae_has_the_vae_interface():
    torch.manual_seed(0)
    model = ConvVAE(latent_dim=4, hidden_dim=16, channels=(4, 8))
    x = _binary(5, 784)
    logits, mu, logvar = model(x)
    assert logits.shape == (5, 784) and mu.shape == logvar.shape == (5, 4)
    # leading dimensions (importance samples) decode as separate batches
    z = torch.randn(3, 5, 4)
    torch.testing.assert_close(model.decode(z)[1], model.decode(z[1]))
    assert model.sample(6).shape == (6, 784)
    estimate = vaelib.importance_log_likelihood(model, x, k=10)
    assert estimate.shape == (5,) and torch.isfinite(estimate).all()


def test_fit_trains_the_conv_vae_on_real_digits(offline_digits):
    (train, _), (test, _) = offline_digits
    torch.manual_seed(0)
    model = ConvVAE(latent_dim=8, hidden_dim=64, channels=(8, 16))
    history = vaelib.fit(model, train[:500], test[:200], epochs=3, batch_size=50, device="cpu", progress=False)
    assert history.test_loss[-1] < history.test_loss[0] - 20


def test_conv_vae_rejects_bad_sizes():
    with pytest.raises(ValueError, match="channels must be two ints"):
        ConvVAE(channels=(8,))
    with pytest.raises(ValueError, match="latent_dim must be a positive int"):
        ConvVAE(latent_dim=0)
