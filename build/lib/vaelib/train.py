"""Training with the whole dataset resident on the device.

``fit`` copies the images to the device once and draws each epoch's batches by
indexing with a random permutation there: no per-item Python work, no DataLoader, no
host-to-device copy per step. Loss values are read back once per epoch.
"""

from __future__ import annotations

import copy
import math
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .evaluate import evaluate
from .losses import default_loss
from .utils import check_tensor, check_unit_interval, pick_device, value_checks


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the message names the epoch and step."""


@dataclass
class History:
    """Per-epoch records of ``fit``: train and test loss (nats per image) and seconds.

    ``seconds`` times the training pass of each epoch (the test pass is not included).
    """

    device: str = "cpu"
    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    seconds: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, train_loss: float, test_loss: float | None, seconds: float) -> None:
        self.epoch.append(len(self.epoch) + 1)
        self.train_loss.append(train_loss)
        self.test_loss.append(test_loss)
        self.seconds.append(seconds)

    def rows(self) -> list[dict]:
        """One dict per epoch, ready for ``pandas.DataFrame`` or printing."""
        keys = ("epoch", "train_loss", "test_loss", "seconds")
        return [dict(zip(keys, values)) for values in zip(*(getattr(self, key) for key in keys))]


def fit(
    model: nn.Module,
    train_images: torch.Tensor,
    test_images: torch.Tensor | None = None,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    device: str | torch.device | None = None,
    loss_fn: Callable | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
) -> History:
    """Train ``model`` with Adam on ``train_images`` ``(N, D)`` for ``epochs`` epochs in all.

    ``loss_fn(model, x, reduction)`` defaults to the negative ELBO for a VAE and the
    reconstruction loss for an autoencoder. With ``checkpoint``, the model, optimizer,
    history and random state are saved atomically after every epoch, and a run that
    finds the file resumes from it. Raises ``NonFiniteLossError`` naming the epoch and
    step if the loss becomes NaN or inf, with the model restored to the start of that
    epoch. Introduced in chapter 0; chapter 5 times it.
    """
    _check_fit_args(model, train_images, test_images, epochs, batch_size, lr)
    loss_fn = loss_fn or default_loss(model)
    device = torch.device(device) if device is not None else pick_device()
    model.to(device)
    train = train_images.to(device)
    test = test_images.to(device) if test_images is not None else None
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    history = History(device=str(device))
    if checkpoint is not None and Path(checkpoint).is_file():
        history = load_checkpoint(checkpoint, model, optimizer)
    from tqdm.auto import tqdm  # imported here: in Jupyter, tqdm.auto may warn at import time

    bar = tqdm(range(len(history), epochs), desc="fit", unit="epoch", disable=not progress)
    with value_checks(False):  # the data was checked once, above
        for epoch in bar:
            start = time.perf_counter()
            train_loss = _train_epoch(model, optimizer, loss_fn, train, batch_size, epoch + 1)
            seconds = time.perf_counter() - start
            test_loss = evaluate(model, test, loss_fn=loss_fn) if test is not None else None
            history.append(train_loss, test_loss, seconds)
            bar.set_postfix(train=f"{train_loss:.2f}", test="-" if test_loss is None else f"{test_loss:.2f}")
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optimizer, history)
    return history


def _check_fit_args(model, train_images, test_images, epochs, batch_size, lr) -> None:
    data_dim = getattr(model, "data_dim", None)
    for name, images in (("train_images", train_images), ("test_images", test_images)):
        if images is None and name == "test_images":
            continue
        check_tensor(images, name, ndim=2, last_dim=data_dim)
        check_unit_interval(images, name)
    if train_images.shape[0] == 0:
        raise ValueError("train_images is empty")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")


def _train_epoch(model, optimizer, loss_fn, images, batch_size, epoch) -> float:
    """One pass over ``images`` in random batches; returns the mean loss per image."""
    model.train()
    n = images.shape[0]
    n_steps = math.ceil(n / batch_size)
    order = torch.randperm(n, device=images.device)
    step_losses = torch.empty(n_steps, device=images.device)
    snapshot = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
    for step in range(n_steps):
        x = images[order[step * batch_size : (step + 1) * batch_size]]
        loss = loss_fn(model, x, reduction="mean")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step_losses[step] = loss.detach()
    _check_finite(step_losses, epoch, model, optimizer, snapshot)
    sizes = torch.full((n_steps,), float(batch_size), device=images.device)
    sizes[-1] = n - batch_size * (n_steps - 1)
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


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer, history: History) -> None:
    """Write model, optimizer, history and RNG state atomically: a temp file, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": asdict(history),
        "rng": torch.get_rng_state(),
    }
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer=None) -> History:
    """Restore a checkpoint written by ``save_checkpoint`` (``weights_only=True``); returns its history."""
    device = next(model.parameters()).device
    state = torch.load(path, map_location=device, weights_only=True)
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"].cpu())
    return History(**state["history"])


def fit_dataloader(
    model: nn.Module,
    dataset,
    epochs: int = 1,
    batch_size: int = 128,
    lr: float = 1e-3,
    device: str | torch.device | None = None,
    num_workers: int = 0,
) -> History:
    """Train ``model`` the way the source post does, to compare speeds with ``fit``.

    A shuffling ``DataLoader`` over ``dataset`` (items ``(image, label)``, converted one
    at a time), each batch copied to the device, the decoder's sigmoid fed to
    ``binary_cross_entropy`` summed over the batch, plus the summed KL; Adam. Returns
    a ``History`` whose ``seconds`` time each epoch and whose losses are nats per image.
    Introduced in chapter 5.
    """
    device = torch.device(device) if device is not None else pick_device()
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=num_workers)
    history = History(device=str(device))
    for _ in range(epochs):
        _synchronize(device)
        start, total = time.perf_counter(), torch.zeros((), device=device)
        for x, _ in loader:
            x = x.view(x.shape[0], -1).to(device)
            logits, mu, logvar = model(x)
            bce = F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
            kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())  # KL(q || N(0, I)), summed
            optimizer.zero_grad()
            (bce + kld).backward()
            optimizer.step()
            total += (bce + kld).detach()
        _synchronize(device)
        history.append(total.item() / len(dataset), None, time.perf_counter() - start)
    return history


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
