"""Checkpoint files: written atomically, read with ``weights_only=True``, checked in full
before any of it is applied, and never modified when refused.

A checkpoint holds the model's and the optimizer's state, the run's ``History``, torch's
random state (and CUDA's, where there is one), and a record of what wrote it (vaelib's
version, the model's class and sizes), so that resuming with another model or under
another objective can say which.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from .history import History
from .objectives import describe_settings, same_settings
from .version import __version__


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from: unreadable, not vaelib's, or written by
    a model of another class or size, or under another objective. The file is never modified."""


CHECKPOINT_KEYS = ("model", "optimizer", "history", "rng")
_SIZE_ATTRIBUTES = ("data_dim", "hidden_dim", "latent_dim", "num_classes", "channels", "likelihood", "sigma_x")
_START_AFRESH = "The file is left as it is; to start afresh, delete it or pass another checkpoint path."


def model_sizes(model: nn.Module) -> dict:
    """``{"class": ..., "sizes": {...}}``: what a checkpoint records of its model."""
    sizes = {key: getattr(model, key) for key in _SIZE_ATTRIBUTES if getattr(model, key, None) is not None}
    return {"class": type(model).__name__, "sizes": sizes}


def describe_model(model: nn.Module) -> str:
    """The model's class and sizes, as messages show them: ``VAE(data_dim=784, ...)``."""
    record = model_sizes(model)
    return f"{record['class']}({', '.join(f'{k}={v!r}' for k, v in record['sizes'].items())})"


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer, history: History) -> None:
    """Write model, optimizer, history and RNG state atomically: a temp file, then rename.

    The checkpoint also records what wrote it (vaelib's version, the model's class and
    sizes), so that resuming with another model can say which. Introduced in chapter 0.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": asdict(history),
        "rng": torch.get_rng_state(),
        "writer": {"vaelib": __version__, "model": describe_model(model), **model_sizes(model)},
    }
    if torch.cuda.is_available():  # batches, binarization and noise draw from it on a GPU
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None) -> History:
    """Restore a checkpoint written by ``save_checkpoint`` (``weights_only=True``); returns its history.

    Raises ``CheckpointError`` for a file that is not a readable vaelib checkpoint
    (truncated, or another program's), or that was written by a model of another class
    or size; the message names both models. Everything is checked before the model,
    the optimizer or the random state is touched, and the file itself is never modified.
    Introduced in chapter 0.
    """
    state, history = read_checkpoint(path, model, optimizer)
    return apply_checkpoint(state, history, model, optimizer)


def read_checkpoint(path, model: nn.Module, optimizer=None) -> tuple[dict, History]:
    """Load and check a checkpoint without applying any of it."""
    path = Path(path)
    state = _load(path)
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path} is not a vaelib checkpoint: it has no {', '.join(missing)}. {_START_AFRESH}")
    _check_model(path, state, model)
    rng = state["rng"]
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
        raise CheckpointError(f"{path} holds no random state vaelib can restore. {_START_AFRESH}")
    try:
        history = History.from_dict(state["history"])
        if optimizer is not None:
            _check_optimizer_state(state["optimizer"], optimizer)
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"{path} holds a history or optimizer state vaelib cannot read ({error}). {_START_AFRESH}"
        ) from None
    return state, history


def _load(path: Path):
    try:
        with warnings.catch_warnings():  # torch warns about pickles it is about to refuse
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as error:  # truncated, not a zip archive, or pickled objects of another program
        # torch's own message is about its weights_only switch, which is not the user's problem
        raise CheckpointError(
            f"{path} is not a readable vaelib checkpoint (torch.load stopped with {type(error).__name__}: "
            f"the file is truncated, or another program's). {_START_AFRESH}"
        ) from None


def _check_model(path: Path, state: dict, model: nn.Module) -> None:
    """Raise ``CheckpointError`` unless the checkpoint's model state fits ``model``."""
    writer = state.get("writer")
    writer = writer if isinstance(writer, dict) else {}
    saved = state["model"]
    if not isinstance(saved, dict) or not all(isinstance(v, torch.Tensor) for v in saved.values()):
        raise CheckpointError(f"{path} is not a vaelib checkpoint: its model entry is not a state dict. {_START_AFRESH}")
    expected = model.state_dict()
    fits = set(saved) == set(expected) and all(saved[key].shape == expected[key].shape for key in expected)
    if not fits or not _same_model(writer, model_sizes(model)):
        written = writer.get("model") or _describe_state(saved)
        version = f" (vaelib {writer['vaelib']})" if "vaelib" in writer else ""
        raise CheckpointError(
            f"{path} was written by {written}{version}, but this model is {describe_model(model)}. To resume, "
            f"build the model with the checkpoint's class, sizes and likelihood. {_START_AFRESH}"
        )


def check_same_objective(history: History, settings: dict, path="the checkpoint") -> None:
    """Raise ``CheckpointError`` unless ``history`` was trained under objective ``settings``."""
    if not same_settings(history.objective, settings):
        raise CheckpointError(
            f"{path} was trained under the objective {describe_settings(history.objective)}, not "
            f"{describe_settings(settings)}: resume with the same objective. {_START_AFRESH}"
        )


def _same_model(writer: dict, this: dict) -> bool:
    """The same class, and the same value for every size both records have (a checkpoint
    from before vaelib recorded its writer has none: its shapes decide)."""
    if "class" not in writer:
        return True
    sizes = writer.get("sizes") or {}
    common = set(sizes) & set(this["sizes"])
    return writer["class"] == this["class"] and all(sizes[key] == this["sizes"][key] for key in common)


def _check_optimizer_state(saved: dict, optimizer) -> None:
    """Raise ``ValueError`` unless ``saved`` has the optimizer's parameter groups, size for size."""
    groups = saved["param_groups"]
    ours = optimizer.param_groups
    if len(groups) != len(ours) or any(len(a["params"]) != len(b["params"]) for a, b in zip(groups, ours)):
        raise ValueError("its parameter groups do not match this optimizer's")


def apply_checkpoint(state: dict, history: History, model: nn.Module, optimizer=None) -> History:
    """Load a checked checkpoint into the model, the optimizer and torch's random state."""
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    if "cuda_rng" in state and torch.cuda.is_available() and len(state["cuda_rng"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return history


def _describe_state(state_dict: dict) -> str:
    """A checkpoint from before vaelib recorded its writer: its parameters' shapes."""
    shapes = ", ".join(f"{key} {tuple(value.shape)}" for key, value in list(state_dict.items())[:4])
    return f"a model with parameters {shapes}{', ...' if len(state_dict) > 4 else ''}"
