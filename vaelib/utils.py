"""Devices, seeds, running modes and the input checks every module shares."""

from __future__ import annotations

import contextlib
import os
import random
from typing import Iterator

import numpy as np
import torch

SMOKE_ENV = "VAELIB_SMOKE"
_VALUE_CHECKS = {"enabled": True}


def pick_device() -> torch.device:
    """The fastest device here: CUDA, then Apple's MPS, then the CPU.

    Introduced in chapter 5.
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_all(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (every device) with ``seed``.

    Introduced in chapter 0; every chapter calls it once, after its hyperparameters.
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds CUDA and MPS generators too


def smoke_mode() -> bool:
    """True when ``VAELIB_SMOKE`` is set to 1/true/yes (``make test`` sets it).

    Smoke mode shrinks sizes (epochs, images), never the code path.
    Introduced in chapter 0.
    """
    return os.environ.get(SMOKE_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def check_tensor(value, name: str, ndim: int | None = None, last_dim: int | None = None) -> None:
    """Raise a ``TypeError``/``ValueError`` naming ``name`` unless ``value`` fits.

    ``ndim`` is the exact number of dimensions; ``last_dim`` the size of the last one.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None and value.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if last_dim is not None and (value.dim() == 0 or value.shape[-1] != last_dim):
        raise ValueError(
            f"{name} must have last dimension {last_dim}, got shape {tuple(value.shape)}"
        )


def check_unit_interval(x: torch.Tensor, name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` unless every entry is in [0, 1].

    A Bernoulli likelihood is defined only for such pixels.
    """
    if not _VALUE_CHECKS["enabled"]:
        return
    if x.numel() and (torch.isnan(x).any() or x.min() < 0 or x.max() > 1):
        low, high = x.min().item(), x.max().item()
        hint = ""
        whole = x.dtype == torch.uint8 or bool(torch.equal(x, x.round()))
        if whole and low >= 0 and 1 < high <= 255:
            hint = "; these look like grey levels 0 to 255: divide by 255 first, as in x.float() / 255"
        raise ValueError(
            f"{name} must hold pixel values in [0, 1] for a Bernoulli likelihood; "
            f"got values in [{low:.4g}, {high:.4g}]{hint}"
        )


def check_floating(x: torch.Tensor, name: str) -> None:
    """Raise a ``ValueError`` naming ``name`` unless ``x`` holds floating-point values."""
    if not x.is_floating_point():
        raise ValueError(
            f"{name} holds {str(x.dtype).removeprefix('torch.')} values; the models take float pixels in "
            "[0, 1]: convert first, as in x.float() / 255 for grey levels 0 to 255"
        )


@contextlib.contextmanager
def value_checks(enabled: bool) -> Iterator[None]:
    """Switch the pixel-range check off (or on) inside a ``with`` block.

    The check reads values back from the device, which stalls a GPU once per step;
    ``fit`` checks the whole dataset once, then trains inside ``value_checks(False)``,
    as torch.distributions does with ``validate_args``.
    """
    previous = _VALUE_CHECKS["enabled"]
    _VALUE_CHECKS["enabled"] = enabled
    try:
        yield
    finally:
        _VALUE_CHECKS["enabled"] = previous
