"""Every figure function returns a labelled Figure and rejects bad input."""

import pytest
import torch

import vaelib
from vaelib import (
    VAE,
    Autoencoder,
    History,
    image_grid,
    interpolation_strip,
    latent_manifold,
    latent_scatter,
    reconstruction_grid,
    training_curves,
)


def test_image_grid_tiles_rows():
    fig = image_grid(torch.rand(10, 784), ncol=4, title="ten")
    ax = fig.axes[0]
    assert ax.get_title() == "ten"
    assert ax.images[0].get_array().shape == (3 * 28, 4 * 28)
    with pytest.raises(ValueError, match="square number of pixels"):
        image_grid(torch.rand(2, 10))


def test_reconstruction_grid_pairs_rows():
    fig = reconstruction_grid(torch.rand(5, 784), torch.rand(5, 784))
    assert fig.axes[0].images[0].get_array().shape == (56, 5 * 28)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["original", "reconstruction"]
    with pytest.raises(ValueError, match="same shape"):
        reconstruction_grid(torch.rand(5, 784), torch.rand(4, 784))


def test_latent_scatter_labels():
    fig = latent_scatter(torch.randn(50, 3), torch.arange(50) % 10)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "$z_1$" and ax.get_ylabel() == "$z_2$"
    assert len(ax.collections[0].get_offsets()) == 50
    with pytest.raises(ValueError, match="one label per row"):
        latent_scatter(torch.randn(50, 2), torch.arange(49))


def test_latent_manifold_needs_two_latents():
    vaelib.seed_all(0)
    fig = latent_manifold(VAE(hidden_dim=16, latent_dim=2), n=5)
    assert fig.axes[0].images[0].get_array().shape == (5 * 28, 5 * 28)
    assert "Phi^{-1}" in fig.axes[0].get_xlabel()
    with pytest.raises(ValueError, match="latent_dim 2, got 20"):
        latent_manifold(VAE())


def test_interpolation_strip_works_for_vae_and_autoencoder():
    vaelib.seed_all(0)
    x_a, x_b = torch.rand(784), torch.rand(784)
    for model in (VAE(hidden_dim=16, latent_dim=4), Autoencoder(hidden_dim=16, latent_dim=4)):
        fig = interpolation_strip(model, x_a, x_b, steps=7)
        assert fig.axes[0].images[0].get_array().shape == (28, 7 * 28)


def test_training_curves_plot_both_losses():
    history = History(device="cpu")
    history.append(200.0, 190.0, 0.5)
    history.append(150.0, 149.0, 0.4)
    ax = training_curves(history).axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["train", "test"]
    assert ax.get_ylabel() == "loss (nats per image)" and "(cpu)" in ax.get_title()
