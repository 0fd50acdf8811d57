"""Figures of data and models. Each function returns a matplotlib ``Figure`` with a title
and labelled axes; nothing is shown or saved here. The drawn diagrams (graphical
model, the VAE's flow, the reparameterization graph) are in ``diagrams.py``."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from scipy.stats import norm

from .utils import check_tensor


def _as_square_images(images: torch.Tensor, name: str) -> np.ndarray:
    """``(n, D)`` with D a square number → ``(n, side, side)`` numpy array."""
    check_tensor(images, name, ndim=2)
    side = math.isqrt(images.shape[1])
    if side * side != images.shape[1]:
        raise ValueError(f"{name} must have a square number of pixels per row, got {images.shape[1]}")
    return images.detach().float().cpu().reshape(-1, side, side).numpy()


def _tile(images: np.ndarray, ncol: int) -> np.ndarray:
    """Tile ``(n, h, w)`` into one ``(rows*h, ncol*w)`` image with blank padding."""
    n, h, w = images.shape
    rows = math.ceil(n / ncol)
    canvas = np.ones((rows * h, ncol * w), dtype=np.float32)
    for i, image in enumerate(images):
        r, c = divmod(i, ncol)
        canvas[r * h : (r + 1) * h, c * w : (c + 1) * w] = image
    return canvas


def image_grid(images: torch.Tensor, ncol: int = 8, title: str = "images") -> Figure:
    """Images ``(n, D)`` in [0, 1], ``ncol`` to a row, in one grey-scale panel.

    Introduced in chapter 0.
    """
    tiles = _tile(_as_square_images(images, "images"), ncol)
    fig, ax = plt.subplots(figsize=(ncol * 0.6, tiles.shape[0] / tiles.shape[1] * ncol * 0.6 + 0.5))
    ax.imshow(tiles, cmap="gray_r", vmin=0.0, vmax=1.0)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def reconstruction_grid(originals: torch.Tensor, reconstructions: torch.Tensor, title: str = "reconstructions") -> Figure:
    """Originals (top row) above their reconstructions (bottom row), each ``(n, D)``.

    Introduced in chapter 0.
    """
    if originals.shape != reconstructions.shape:
        raise ValueError(
            f"originals and reconstructions must have the same shape, got "
            f"{tuple(originals.shape)} and {tuple(reconstructions.shape)}"
        )
    top = _tile(_as_square_images(originals, "originals"), len(originals))
    bottom = _tile(_as_square_images(reconstructions, "reconstructions"), len(originals))
    fig, ax = plt.subplots(figsize=(len(originals) * 0.6, 1.8))
    ax.imshow(np.vstack([top, bottom]), cmap="gray_r", vmin=0.0, vmax=1.0)
    side = top.shape[0]
    ax.set_yticks([side / 2, 1.5 * side], ["original", "reconstruction"])
    ax.set_xticks([])
    ax.set_title(title)
    return fig


def latent_scatter(z: torch.Tensor, labels: torch.Tensor, title: str = "latent codes by digit") -> Figure:
    """The first two latent coordinates of ``z`` ``(n, L)``, coloured by ``labels`` ``(n,)``.

    Introduced in chapter 0.
    """
    check_tensor(z, "z", ndim=2)
    check_tensor(labels, "labels", ndim=1)
    if z.shape[1] < 2 or len(labels) != len(z):
        raise ValueError(f"z must be (n, L>=2) with one label per row, got {tuple(z.shape)} and {len(labels)} labels")
    z, labels = z.detach().cpu().numpy(), labels.cpu().numpy()
    fig, ax = plt.subplots(figsize=(6, 5))
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=4, alpha=0.7, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title(title)
    return fig


@torch.no_grad()
def latent_manifold(model: torch.nn.Module, n: int = 15, title: str = "decoded latent grid") -> Figure:
    """Decode an ``n``×``n`` grid of a 2-D latent space into pixel probabilities.

    The grid is evenly spaced in probability, z = Φ⁻¹(u) for u in (0.05 … 0.95), so
    every cell carries the same prior mass. Introduced in chapter 5.
    """
    if getattr(model, "latent_dim", None) != 2:
        raise ValueError(f"latent_manifold needs a model with latent_dim 2, got {getattr(model, 'latent_dim', None)}")
    coords = torch.tensor(norm.ppf(np.linspace(0.05, 0.95, n)), dtype=torch.float32)
    z1, z2 = torch.meshgrid(coords, coords.flip(0), indexing="xy")
    z = torch.stack([z1.reshape(-1), z2.reshape(-1)], dim=1).to(next(model.parameters()).device)
    fig = image_grid(torch.sigmoid(model.decode(z)), ncol=n, title=title)
    fig.axes[0].set_xlabel(r"$z_1$ from $\Phi^{-1}(0.05)$ to $\Phi^{-1}(0.95)$")
    fig.axes[0].set_ylabel(r"$z_2$ (top: $\Phi^{-1}(0.95)$)")
    return fig


@torch.no_grad()
def interpolation_strip(
    model: torch.nn.Module, x_a: torch.Tensor, x_b: torch.Tensor, steps: int = 10, title: str = "interpolation"
) -> Figure:
    """Decode the straight line between the codes of two images ``(D,)``.

    Uses the mean of q(z | x) for a VAE and the code for an autoencoder.
    Introduced in chapter 5.
    """
    pair = torch.stack([x_a, x_b]).to(next(model.parameters()).device)
    codes = model.encode(pair)
    codes = codes[0] if isinstance(codes, tuple) else codes  # a VAE's mu
    weights = torch.linspace(0.0, 1.0, steps, device=pair.device).unsqueeze(1)
    z = (1 - weights) * codes[0] + weights * codes[1]
    fig = image_grid(torch.sigmoid(model.decode(z)), ncol=steps, title=title)
    fig.axes[0].set_xlabel("weight on the second image, from 0 to 1")
    return fig


def training_curves(history, title: str = "training curves") -> Figure:
    """Train and test loss (nats per image) against epoch, from ``fit``'s ``History``.

    Introduced in chapter 0.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(history.epoch, history.train_loss, marker="o", label="train")
    if any(loss is not None for loss in history.test_loss):
        ax.plot(history.epoch, history.test_loss, marker="s", label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (nats per image)")
    ax.set_title(f"{title} ({history.device})")
    ax.legend()
    return fig
