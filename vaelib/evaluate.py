"""Held-out evaluation: the mean loss in nats per image, and log p(x) by importance
sampling."""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .losses import default_loss, encode, log_likelihood
from .probability import gaussian_log_likelihood
from .utils import check_floating, check_tensor, check_unit_interval


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int = 1000,
    loss_fn: Callable | None = None,
    labels: torch.Tensor | None = None,
) -> float:
    """Mean loss over ``images`` ``(n, D)`` in nats per image (the negative ELBO for a VAE).

    Runs on the model's device, in batches, in eval mode. ``labels`` (int64, one per
    image) are passed on to the loss, for a conditional model. Introduced in chapter 5.
    """
    check_tensor(images, "images", ndim=2)
    if images.shape[0] == 0:
        raise ValueError("images is empty: evaluate averages a loss over images and needs at least one")
    check_unit_interval(images, "images")
    check_floating(images, "images")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if labels is not None:  # one per image; their values are the model's to check
        check_tensor(labels, "labels", ndim=1)
        if len(labels) != len(images):
            raise ValueError(f"labels must hold one label per image: {len(images)} images, {len(labels)} labels")
    loss_fn = loss_fn or default_loss(model)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device, non_blocking=True)
        if labels is None:
            total += loss_fn(model, x, reduction="sum").double()
        else:
            y = labels[start : start + batch_size].to(device, non_blocking=True)
            total += loss_fn(model, x, reduction="sum", labels=y).double()
    model.train(was_training)
    return total.item() / images.shape[0]


@torch.no_grad()
def importance_log_likelihood(
    model: nn.Module, x: torch.Tensor, k: int, chunk_size: int = 100, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-image estimate of log p(x) from ``k`` importance samples z_i ~ q(z | x).

    Math: log (1/k) Σ_i p(x | z_i) p(z_i) / q(z_i | x), by logsumexp. With k = 1 it is
    the one-sample ELBO; it rises towards log p(x) as k grows. The k samples are drawn
    ``chunk_size`` at a time, so memory stays bounded. Shapes ``(n, D)`` → ``(n,)``.
    A Bernoulli model accepts binary pixels only: on grey levels the result would be
    the log of nothing (``ValueError``). For a conditional model, pass ``labels``: the
    estimate is then of log p(x | y). Introduced in chapter 5.
    """
    check_tensor(x, "x", ndim=2)
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1 (the number of importance samples), got {k!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if getattr(model, "likelihood", None) == "bernoulli":
        grey = ((x != 0) & (x != 1)).sum().item()
        if grey:
            raise ValueError(
                f"x holds {grey} pixels that are neither 0 nor 1, and this model's likelihood "
                "is 'bernoulli': for grey levels its log p(x | z) is the negative of a "
                "cross-entropy, not the log of a probability, so the estimate would not be "
                "log p(x). Binarize the images (load_mnist(binarize=True)) or use "
                "likelihood='continuous_bernoulli' or 'gaussian' for grey levels"
            )
    mu, logvar = encode(model, x, labels)
    std = torch.exp(0.5 * logvar)  # σ = exp(½ log σ²)
    running = torch.full(mu.shape[:1], -math.inf, dtype=torch.float64, device=mu.device)
    for start in range(0, k, chunk_size):
        eps = torch.randn((min(chunk_size, k - start), *mu.shape), dtype=mu.dtype, device=mu.device)
        z = mu + std * eps  # (c, n, L)
        log_w = (
            log_likelihood(model, x, z, labels)
            + gaussian_log_likelihood(z, torch.zeros_like(z), 0.0)
            - gaussian_log_likelihood(z, mu, logvar)
        )
        running = torch.logaddexp(running, torch.logsumexp(log_w.double(), dim=0))
    return running - math.log(k)


@torch.no_grad()
def nearest_distance(points: torch.Tensor, reference: torch.Tensor, chunk_size: int = 1024) -> torch.Tensor:
    """Euclidean distance from each of ``points`` ``(n, L)`` to its nearest row of
    ``reference`` ``(m, L)``, shape ``(n,)``; computed in chunks of points.

    Chapter 0 uses it to measure the holes in an autoencoder's latent space: how far
    random latent draws land from every real encoding. Introduced in chapter 0.
    """
    check_tensor(points, "points", ndim=2)
    check_tensor(reference, "reference", ndim=2, last_dim=points.shape[1])
    if len(reference) == 0:
        raise ValueError("reference is empty")
    return torch.cat([torch.cdist(chunk, reference).min(dim=1).values for chunk in points.split(chunk_size)])
