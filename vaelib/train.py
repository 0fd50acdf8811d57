"""Training with the whole dataset resident on the device.

``fit`` copies the images to the device once and draws each epoch's batches by
indexing with a random permutation there: no per-item Python work, no DataLoader, no
host-to-device copy per step. Loss values are read back once per epoch. Adam runs
as one fused kernel where torch has it, and float32 matrix products may use the
hardware's faster internal formats (``speed.training_matmul_precision``).
"""

from __future__ import annotations

import copy
import functools
import os
import time
from pathlib import Path

import torch
from torch import nn

from .checkpoint import apply_checkpoint, check_same_objective, read_checkpoint, save_checkpoint
from .evaluate import evaluate
from .history import History
from .losses import encode
from .models import check_labels
from .objectives import Objective, as_objective
from .probability import kl_normal_std
from .speed import (
    SUBNORMAL_FLUSH_STEPS,
    describe_matmul,
    effective_precision,
    float32_matmul_precision,
    flush_subnormal_moments,
    make_adam,
    training_precision,
)
from .utils import check_floating, check_tensor, check_unit_interval, pick_device, value_checks


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the message names the epoch and step."""


_RETIRED = {  # fit's keywords before it took one objective (issue 23), and the way now
    "loss_fn": "pass the loss as objective=",
    "beta": "pass objective=vaelib.BetaObjective(...)",
    "warmup_epochs": "pass objective=vaelib.BetaObjective(...)",
    "free_bits": "pass objective=vaelib.BetaObjective(...)",
    "binarize": "pass an objective with binarize=True, e.g. objective=vaelib.NegativeELBO(binarize=True)",
    "train_labels": "pass the labels with their images: fit(model, (train_images, train_labels), ...)",
    "test_labels": "pass the labels with their images: fit(model, ..., (test_images, test_labels))",
    "matmul_precision": "wrap the call: with vaelib.training_matmul_precision(...): fit(...)",
}
_BETA_KEYWORDS = ("beta", "warmup_epochs", "free_bits", "binarize")


def _refuse_retired_keywords(function):
    """Old keyword names get a ``TypeError`` that names the new way."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        retired = [key for key in kwargs if key in _RETIRED]
        if retired:
            raise TypeError(_retired_message(retired, kwargs))
        return function(*args, **kwargs)

    return wrapper


def _retired_message(retired: list, kwargs: dict) -> str:
    ways = []
    beta = {key: kwargs[key] for key in _BETA_KEYWORDS if key in kwargs}
    if set(beta) - {"binarize"}:
        ways.append(f"pass objective=vaelib.BetaObjective({', '.join(f'{k}={v!r}' for k, v in beta.items())})")
    for key in retired:
        if key not in beta or not ways:
            ways.append(_RETIRED[key])
    given = ", ".join(f"{key}=" for key in retired)
    return f"fit no longer takes {given}: {'; '.join(dict.fromkeys(ways))}"


@_refuse_retired_keywords
def fit(
    model: nn.Module,
    train_images: torch.Tensor | tuple[torch.Tensor, torch.Tensor],
    test_images: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    objective: Objective | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    device: str | torch.device | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
) -> History:
    """Train ``model`` with Adam on ``train_images`` ``(n, D)`` for ``epochs`` epochs in all.

    ``objective`` is what the optimizer minimizes: by default the negative ELBO for a
    VAE (``NegativeELBO()``) and the reconstruction loss for an autoencoder
    (``ReconstructionLoss()``); ``BetaObjective(beta, warmup_epochs, free_bits)`` is
    chapter 6's, and each takes ``binarize=True`` to draw every batch's pixels afresh as
    Bernoulli(grey level). Any loss callable ``loss(model, x, reduction)`` works too.
    Whatever the objective, the test loss that ``fit`` reports is the model's own loss
    on ``test_images`` as given (the negative ELBO itself for a VAE: β = 1, no free
    bits, one draw of z per test image), so runs with different objectives compare on
    it; ``History.train_loss`` is the objective that was minimized. Binarize the test
    images once, with a fixed seed, for a test loss on binary data
    (``load_mnist(binarize=True)``).

    A conditional model (``ConditionalVAE``) takes its labels with the images:
    ``fit(model, (train_images, train_labels), (test_images, test_labels))``, int64
    class indices, one per image, kept on the device and drawn with the same permutation.

    With ``checkpoint``, the model, optimizer, history and random state are saved
    atomically after every epoch, and a run that finds the file resumes from it, so an
    interrupted run loses at most the epoch it was in. A file that is not a readable
    vaelib checkpoint, or that another model or another objective wrote, is a
    ``CheckpointError`` before any training, and the file is left as it is. Raises
    ``NonFiniteLossError`` naming the epoch and step if the loss becomes NaN or inf,
    with the model restored to the start of that epoch.

    Training runs under the float32 matmul precision of
    ``training_matmul_precision`` ("medium" unless set: bfloat16 or TF32 permitted
    inside matrix products where the hardware has them); test losses are exact float32.
    The test pass draws from torch's global random generator, so a run with test images
    follows a different random stream from one without. Introduced in chapter 0;
    Appendix A times it; chapter 6 adds the β objective, chapter 7 the labels.
    """
    (train, train_y), (test, test_y) = _images_and_labels(train_images, "train"), _images_and_labels(test_images, "test")
    _check_fit_args(model, train, test, epochs, batch_size, lr)
    _check_fit_labels(model, train, test, train_y, test_y)
    objective = as_objective(objective, model)
    objective.check(model, epochs)
    device = torch.device(device) if device is not None else pick_device()
    model.to(device)
    optimizer = make_adam(model, lr, device)
    history = _resume(checkpoint, model, optimizer, objective)
    history = history or History(device=str(device), objective=objective.settings())
    objective.start(steps_per_epoch=-(-len(train) // batch_size), start_epoch=len(history))
    data = [None if t is None else t.to(device) for t in (train, train_y, test, test_y)]
    history.matmul = describe_matmul(device, training_precision())
    precision = effective_precision(device, training_precision())
    from tqdm.auto import tqdm  # imported here: in Jupyter, tqdm.auto may warn at import time

    bar = tqdm(range(len(history), epochs), desc="fit", unit="epoch", disable=not progress)
    with value_checks(False):  # the data was checked once, above
        for epoch in bar:
            _fit_epoch(model, optimizer, objective, data, batch_size, epoch + 1, precision, history)
            last = history.rows()[-1]
            bar.set_postfix(train=f"{last['train_loss']:.2f}", test="-" if test is None else f"{last['test_loss']:.2f}")
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optimizer, history)
    return history


def _fit_epoch(model, optimizer, objective, data, batch_size, epoch, precision, history) -> None:
    """Train one epoch under matmul ``precision``, evaluate, and append to ``history``."""
    train, train_y, test, test_y = data
    start = time.perf_counter()
    with float32_matmul_precision(precision):  # training only: the test loss is exact float32
        train_loss = _train_epoch(model, optimizer, objective, train, batch_size, epoch, labels=train_y)
    seconds = time.perf_counter() - start
    test_loss = test_rate = None
    if test is not None:
        test_loss = evaluate(model, test, labels=test_y)
        test_rate = _mean_rate(model, test, test_y) if hasattr(model, "reparameterize") else None
    history.append(train_loss, test_loss, seconds, kl_weight=objective.kl_weight, test_rate=test_rate)


def _resume(checkpoint, model, optimizer, objective: Objective) -> History | None:
    """The checkpoint's history, with its state applied, if the file exists; else None."""
    if checkpoint is None:
        return None
    path = Path(checkpoint)
    if path.exists() and not path.is_file():
        raise ValueError(f"checkpoint {checkpoint} exists but is not a file (a folder?): pass a file path")
    if not path.is_file():
        return None
    state, saved = read_checkpoint(path, model, optimizer)
    check_same_objective(saved, objective.settings(), path)
    return apply_checkpoint(state, saved, model, optimizer)


def _images_and_labels(data, split: str) -> tuple:
    """``(images, labels)`` from a tensor (no labels), an (images, labels) pair, or None."""
    if isinstance(data, (tuple, list)):
        if len(data) != 2:
            raise ValueError(f"{split}_images as a pair must be (images, labels), got {len(data)} items")
        return data[0], data[1]
    return data, None


def _check_fit_labels(model, train_images, test_images, train_labels, test_labels) -> None:
    name = type(model).__name__
    if not getattr(model, "conditional", False):
        if train_labels is not None or test_labels is not None:
            raise ValueError(f"labels were given with the images, but {name} is not conditional: pass the images alone")
        return
    if train_labels is None:
        raise ValueError(
            f"{name} is conditional: pass its labels with the images, fit(model, (train_images, "
            "train_labels), ...), one int64 class index per image"
        )
    check_labels(train_labels, "train_labels", model.num_classes, len(train_images))
    if test_images is not None:
        if test_labels is None:
            raise ValueError(f"{name} is conditional: pass (test_images, test_labels) as the test data")
        check_labels(test_labels, "test_labels", model.num_classes, len(test_images))


def _check_fit_args(model, train_images, test_images, epochs, batch_size, lr) -> None:
    data_dim = getattr(model, "data_dim", None)
    for name, images in (("train_images", train_images), ("test_images", test_images)):
        if images is None and name == "test_images":
            continue
        check_tensor(images, name, ndim=2, last_dim=data_dim)
        check_unit_interval(images, name)
        check_floating(images, name)
        if images.shape[0] == 0:
            raise ValueError(f"{name} is empty")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")


@torch.no_grad()
def _mean_rate(model: nn.Module, images: torch.Tensor, labels=None, batch_size: int = 1000) -> float:
    """The mean KL(q(z | x) || p(z)) over ``images``, nats per image, in eval mode."""
    was_training = model.training
    model.eval()
    total = 0.0
    for i in range(0, len(images), batch_size):
        y = None if labels is None else labels[i : i + batch_size]
        total += float(kl_normal_std(*encode(model, images[i : i + batch_size], y)).double().sum())
    model.train(was_training)
    return total / len(images)


def _train_epoch(model, optimizer, objective, images, batch_size, epoch, labels=None) -> float:
    """One pass over ``images`` in random batches; returns the mean loss per image.
    ``labels``, if any, are drawn with the same indices and passed to the objective."""
    model.train()
    n = images.shape[0]
    batches = torch.randperm(n, device=images.device).split(batch_size)
    losses = []
    snapshot = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
    flush = images.device.type == "cpu"
    for step, batch in enumerate(batches):
        x = images.index_select(0, batch)
        if labels is None:
            loss = objective(model, x, reduction="mean")
        else:
            loss = objective(model, x, reduction="mean", labels=labels.index_select(0, batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
        if flush and step % SUBNORMAL_FLUSH_STEPS == 0:
            flush_subnormal_moments(optimizer)
    step_losses = torch.stack(losses)
    _check_finite(step_losses, epoch, model, optimizer, snapshot)
    sizes = torch.tensor([len(batch) for batch in batches], dtype=step_losses.dtype, device=images.device)
    return ((step_losses * sizes).sum() / n).item()


def _check_finite(step_losses, epoch, model, optimizer, snapshot) -> None:
    finite = torch.isfinite(step_losses)
    if bool(finite.all()):
        return
    step = int((~finite).nonzero()[0]) + 1
    model.load_state_dict(snapshot[0])
    optimizer.load_state_dict(snapshot[1])
    raise NonFiniteLossError(
        f"the training loss became {step_losses[step - 1].item()} at epoch {epoch}, step {step}; "
        f"the model was restored to its state at the start of epoch {epoch} "
        "(try a smaller lr, or check the data)"
    )
