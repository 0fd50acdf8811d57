"""Training with the whole dataset resident on the device.

``fit`` copies the images to the device once and draws each epoch's batches by
indexing with a random permutation there: no per-item Python work, no DataLoader, no
host-to-device copy per step. Loss values are read back once per epoch. Adam runs
as one fused kernel where torch has it, and float32 matrix products may use the
hardware's faster internal formats (``matmul_precision``).
"""

from __future__ import annotations

import contextlib
import copy
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .evaluate import evaluate
from .losses import beta_objective, check_non_negative, default_loss, encode
from .models import check_labels
from .probability import kl_normal_std
from .utils import check_floating, check_tensor, check_unit_interval, pick_device, value_checks


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or inf; the message names the epoch and step."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed from: unreadable, not vaelib's, or written by
    a model of another class or size. The file is never modified."""


CHECKPOINT_KEYS = ("model", "optimizer", "history", "rng")
_SIZE_ATTRIBUTES = ("data_dim", "hidden_dim", "latent_dim", "num_classes", "channels", "likelihood", "sigma_x")
_START_AFRESH = "The file is left as it is; to start afresh, delete it or pass another checkpoint path."


def _model_sizes(model: nn.Module) -> dict:
    """``{"class": ..., "sizes": {...}}``: what a checkpoint records of its model."""
    sizes = {key: getattr(model, key) for key in _SIZE_ATTRIBUTES if getattr(model, key, None) is not None}
    return {"class": type(model).__name__, "sizes": sizes}


def describe_model(model: nn.Module) -> str:
    """The model's class and sizes, as messages show them: ``VAE(data_dim=784, ...)``."""
    record = _model_sizes(model)
    return f"{record['class']}({', '.join(f'{k}={v!r}' for k, v in record['sizes'].items())})"


@dataclass
class History:
    """Per-epoch records of ``fit``: train and test loss (nats per image) and seconds.

    ``train_loss`` is the objective the optimizer minimized, averaged over the epoch's
    batches: for a VAE trained with ``beta``, a warm-up or ``free_bits``, that is the
    β objective, not the ELBO. ``test_loss`` is always the negative ELBO itself (β = 1,
    no free bits) for a VAE with the default loss, whatever it was trained on,
    estimated with one draw of z per test image; ``test_rate`` is its KL term, the
    rate in nats per image, exact (None without test images or for an autoencoder).
    ``kl_weight`` is the weight on the KL term at each epoch's last step (``beta``
    once any warm-up is over), None for a run trained on the plain loss.
    ``seconds`` times the training pass of each epoch (the test pass is not included).
    ``matmul`` says which float32 matrix-product setting training ran under: the formats
    it permitted, not which one the library then chose.
    """

    device: str = "cpu"
    matmul: str = "float32"
    beta: float = 1.0
    warmup_epochs: int = 0
    free_bits: float = 0.0
    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    kl_weight: list = field(default_factory=list)
    test_rate: list = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.epoch)

    def append(
        self,
        train_loss: float,
        test_loss: float | None,
        seconds: float,
        kl_weight: float | None = None,
        test_rate: float | None = None,
    ) -> None:
        self.epoch.append(len(self.epoch) + 1)
        self.train_loss.append(train_loss)
        self.test_loss.append(test_loss)
        self.seconds.append(seconds)
        self.kl_weight.append(kl_weight)
        self.test_rate.append(test_rate)

    def rows(self) -> list[dict]:
        """One dict per epoch, ready for ``pandas.DataFrame`` or printing."""
        keys = ("epoch", "train_loss", "test_loss", "seconds", "kl_weight", "test_rate")
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
    matmul_precision: str = "medium",
    binarize: bool = False,
    beta: float = 1.0,
    warmup_epochs: int = 0,
    free_bits: float = 0.0,
    train_labels: torch.Tensor | None = None,
    test_labels: torch.Tensor | None = None,
) -> History:
    """Train ``model`` with Adam on ``train_images`` ``(N, D)`` for ``epochs`` epochs in all.

    ``loss_fn(model, x, reduction)`` defaults to the negative ELBO for a VAE and the
    reconstruction loss for an autoencoder. With ``checkpoint``, the model, optimizer,
    history and random state are saved atomically after every epoch, and a run that
    finds the file resumes from it, so an interrupted run loses at most the epoch it
    was in. A file that is not a readable vaelib checkpoint, or that another model
    wrote, is a ``CheckpointError`` before any training, and the file is left as it is. Raises ``NonFiniteLossError`` naming the epoch and
    step if the loss becomes NaN or inf, with the model restored to the start of that
    epoch.

    ``matmul_precision`` is passed to ``torch.set_float32_matmul_precision`` for each
    epoch's training pass and restored afterwards; test losses are computed in exact
    float32 whatever it is. ``"medium"`` (the default) permits
    float32 matrix products to use bfloat16 internally on CPUs with AMX or AVX512-BF16
    (whether the library then does is its choice: Appendix A measures it) and TF32 on
    CUDA GPUs from Ampere on; weights, gradients and Adam's state stay
    float32. ``"highest"`` keeps every product in exact float32. Where the hardware
    has no faster format, all three settings compute the same thing.
    ``binarize=True`` trains on dynamically binarized images: every pixel of every
    batch is drawn afresh as Bernoulli(grey level), so each epoch sees new binary
    images (the protocol of Burda et al. 2016; other papers use one fixed binarization).
    The test images are used as given: binarize them once, with a fixed seed, for a
    test loss that is a negative ELBO on binary data (``load_mnist(binarize=True)``).

    A VAE can be trained on the β objective of chapter 6 instead of the negative
    ELBO: ``beta`` weighs the KL term (the rate); ``warmup_epochs`` raises that
    weight linearly, step by step, from 0 at the first step to ``beta`` at the first
    step after epoch ``warmup_epochs`` (the linear warm-up of Sønderby et al., 2016);
    ``free_bits`` is the λ of Kingma et al. (2016): each latent dimension's KL,
    averaged over the batch, counts as at least λ nats (``beta_objective``). Whatever
    the training objective, the test loss that ``fit`` reports is the negative ELBO
    itself (β = 1, no free bits; one draw of z per test image), so runs with
    different objectives can be compared on it; ``History.train_loss`` is the
    objective that was minimized. The test pass draws from torch's global random
    generator, so a run with test images follows a different random stream from one
    without.
    A conditional model (``ConditionalVAE``) needs ``train_labels`` (and
    ``test_labels`` with test images): int64 class indices, one per image, kept on
    the device beside the images and drawn with the same permutation.
    Introduced in chapter 0; Appendix A times it; chapter 6 adds the β objective,
    chapter 7 the labels.
    """
    if not isinstance(binarize, bool):
        raise ValueError(f"binarize must be True or False, got {binarize!r}")
    _check_fit_args(model, train_images, test_images, epochs, batch_size, lr)
    if matmul_precision not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul_precision must be one of {MATMUL_PRECISIONS}, got {matmul_precision!r}")
    _check_fit_labels(model, train_images, test_images, train_labels, test_labels)
    schedule = _kl_schedule(model, loss_fn, epochs, beta, warmup_epochs, free_bits)
    is_vae = hasattr(model, "reparameterize") and loss_fn is None
    test_loss_fn = loss_fn or default_loss(model)
    loss_fn = schedule if schedule is not None else test_loss_fn
    device = torch.device(device) if device is not None else pick_device()
    model.to(device)
    train = train_images.to(device)
    test = test_images.to(device) if test_images is not None else None
    train_y = train_labels.to(device) if train_labels is not None else None
    test_y = test_labels.to(device) if test_labels is not None and test is not None else None
    optimizer = make_adam(model, lr, device)
    history = History(device=str(device), beta=float(beta), warmup_epochs=warmup_epochs, free_bits=float(free_bits))
    if checkpoint is not None and Path(checkpoint).exists() and not Path(checkpoint).is_file():
        raise ValueError(f"checkpoint {checkpoint} exists but is not a file (a folder?): pass a file path")
    if checkpoint is not None and Path(checkpoint).is_file():
        state, saved_history = _read_checkpoint(checkpoint, model, optimizer)
        _check_same_objective(saved_history, beta, warmup_epochs, free_bits, checkpoint)
        history = _apply_checkpoint(state, saved_history, model, optimizer)
    if schedule is not None:
        schedule.start(steps_per_epoch=-(-len(train) // batch_size), start_epoch=len(history))
    history.matmul = describe_matmul(device, matmul_precision)
    precision = _effective_precision(device, matmul_precision)
    from tqdm.auto import tqdm  # imported here: in Jupyter, tqdm.auto may warn at import time

    bar = tqdm(range(len(history), epochs), desc="fit", unit="epoch", disable=not progress)
    with value_checks(False):  # the data was checked once, above
        for epoch in bar:
            start = time.perf_counter()
            with float32_matmul_precision(precision):  # training only: the test loss is exact float32
                train_loss = _train_epoch(
                    model, optimizer, loss_fn, train, batch_size, epoch + 1, binarize, labels=train_y
                )
            seconds = time.perf_counter() - start
            test_loss = evaluate(model, test, loss_fn=test_loss_fn, labels=test_y) if test is not None else None
            test_rate = _mean_rate(model, test, test_y) if test is not None and is_vae else None
            weight = schedule.weight if schedule is not None else None
            history.append(train_loss, test_loss, seconds, kl_weight=weight, test_rate=test_rate)
            bar.set_postfix(train=f"{train_loss:.2f}", test="-" if test_loss is None else f"{test_loss:.2f}")
            if checkpoint is not None:
                save_checkpoint(checkpoint, model, optimizer, history)
    return history


MATMUL_PRECISIONS = ("highest", "high", "medium")


class _KLSchedule:
    """The β objective as a loss function whose KL weight follows a linear warm-up.

    Called once per training step: the weight of step s (counted from 0 over the
    whole run) is β · min(1, s / (warm-up steps)), so it is 0 at the first step and
    reaches β when the warm-up epochs are over."""

    def __init__(self, beta: float, warmup_epochs: int, free_bits: float) -> None:
        self.beta, self.warmup_epochs, self.free_bits = beta, warmup_epochs, free_bits
        self.start(steps_per_epoch=1, start_epoch=0)

    def start(self, steps_per_epoch: int, start_epoch: int) -> None:
        """Count steps from the start of epoch ``start_epoch`` (0 for a fresh run)."""
        self.warmup_steps = self.warmup_epochs * steps_per_epoch
        self.step = start_epoch * steps_per_epoch
        self.weight = self._weight_at(self.step)

    def _weight_at(self, step: int) -> float:
        return self.beta if step >= self.warmup_steps else self.beta * step / self.warmup_steps

    def __call__(self, model: nn.Module, x: torch.Tensor, reduction: str = "mean", labels=None) -> torch.Tensor:
        self.weight = self._weight_at(self.step)
        self.step += 1
        return beta_objective(
            model, x, beta=self.weight, free_bits=self.free_bits, reduction=reduction, labels=labels
        )


def _kl_schedule(model, loss_fn, epochs, beta, warmup_epochs, free_bits):
    """Check the β objective's arguments; return the schedule to train with, or None
    for the plain loss (β = 1, no warm-up, no free bits)."""
    check_non_negative(beta=beta, free_bits=free_bits)
    if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
        raise ValueError(f"warmup_epochs must be an int >= 0, got {warmup_epochs!r}")
    if warmup_epochs > epochs:
        raise ValueError(
            f"warmup_epochs ({warmup_epochs}) is longer than training (epochs={epochs}): the KL "
            "weight would never reach beta; use warmup_epochs <= epochs"
        )
    if beta == 1 and warmup_epochs == 0 and free_bits == 0:
        return None
    if loss_fn is not None:
        raise ValueError("beta, warmup_epochs and free_bits apply to fit's own VAE loss; got a loss_fn as well")
    if not hasattr(model, "reparameterize"):
        raise ValueError(
            f"beta, warmup_epochs and free_bits weigh a VAE's KL term; {type(model).__name__} has none"
        )
    return _KLSchedule(beta, warmup_epochs, free_bits)


def _check_same_objective(history: History, beta, warmup_epochs, free_bits, path="the checkpoint") -> None:
    saved = (history.beta, history.warmup_epochs, history.free_bits)
    if saved != (float(beta), warmup_epochs, float(free_bits)):
        raise CheckpointError(
            f"{path} was trained with beta, warmup_epochs, free_bits = {saved}, "
            f"not {(beta, warmup_epochs, free_bits)}: resume with the same objective. {_START_AFRESH}"
        )


def _check_fit_labels(model, train_images, test_images, train_labels, test_labels) -> None:
    conditional = getattr(model, "conditional", False)
    name = type(model).__name__
    if not conditional:
        if train_labels is not None or test_labels is not None:
            raise ValueError(f"train_labels and test_labels are for a conditional model; {name} takes none")
        return
    if train_labels is None:
        raise ValueError(f"{name} is conditional: pass train_labels, one int64 class index per training image")
    check_labels(train_labels, "train_labels", model.num_classes, len(train_images))
    if test_images is not None:
        if test_labels is None:
            raise ValueError(f"{name} is conditional: pass test_labels with test_images")
        check_labels(test_labels, "test_labels", model.num_classes, len(test_images))


@torch.no_grad()
def _mean_rate(model: nn.Module, images: torch.Tensor, labels=None, batch_size: int = 1000) -> float:
    """The mean KL(q(z | x) || p(z)) over ``images``, nats per image, in eval mode."""
    was_training = model.training
    model.eval()
    starts = range(0, len(images), batch_size)
    total = sum(
        kl_normal_std(
            *encode(model, images[i : i + batch_size], None if labels is None else labels[i : i + batch_size])
        )
        .double()
        .sum()
        for i in starts
    )
    model.train(was_training)
    return float(total) / len(images)


def make_adam(model: nn.Module, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam over ``model``'s parameters, as one fused kernel on CPU and CUDA where this
    torch has it (2.4 and later): the same arithmetic as the default, fewer launches."""
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # an older torch without a fused CPU Adam
            pass
    return torch.optim.Adam(model.parameters(), lr=lr)


def _cpu_has_bf16() -> bool:
    """True on x86 CPUs whose instructions multiply bfloat16 natively (AMX or AVX512-BF16)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def _effective_precision(device: torch.device, requested: str) -> str:
    """The setting to apply: on a CPU without native bfloat16, oneDNN would emulate it,
    which is slower than float32, so anything below ``"highest"`` falls back to it."""
    if device.type == "cpu" and requested != "highest" and not _cpu_has_bf16():
        return "highest"
    return requested


def describe_matmul(device: str | torch.device, requested: str = "medium") -> str:
    """What ``fit`` permits for float32 matrix products on ``device`` with ``requested``: for labels.

    The label says what is requested, not what the hardware does: at ``"medium"`` on a CPU,
    oneDNN may still compute in float32 (Appendix A measures which)."""
    device = torch.device(device)
    precision = _effective_precision(device, requested)
    if device.type == "cpu" and precision == "medium":
        return "float32; bfloat16 permitted inside matmuls (CPU, oneDNN)"
    if device.type == "cuda" and precision != "highest" and torch.cuda.get_device_capability(device)[0] >= 8:
        return "float32; TF32 permitted inside matmuls (CUDA)"
    return "float32"


@contextlib.contextmanager
def float32_matmul_precision(precision: str):
    """Apply ``torch.set_float32_matmul_precision(precision)`` inside the block only."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision(precision)
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


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


SUBNORMAL_FLUSH_STEPS = 16


def flush_subnormal_moments(optimizer: torch.optim.Optimizer) -> None:
    """Set to zero the entries of Adam's moment estimates that have become subnormal.

    A weight whose gradient becomes exactly zero (into a ReLU unit that no longer fires
    on any image) has its first moment multiplied by 0.9 at every step, so it falls
    below ``torch.finfo(torch.float32).tiny`` (about 1.2e-38) into the subnormal range,
    and stays there: once it is a few multiples of the smallest subnormal (1.4e-45),
    multiplying by 0.9 rounds back to the same value, so it never reaches zero without
    this flush or the processor's flush-to-zero mode. (A pixel that is 0 in every image
    is different: its weights' moments are exactly 0 from the start.) Some x86 CPUs
    do arithmetic on subnormals on a slower path; Appendix A measures the cost on its
    machine. Values this small do not move a weight (Adam divides by sqrt(v) + 1e-8);
    Appendix A checks that a step from flushed and unflushed state gives bit-for-bit
    equal weights, for plain and fused Adam. ``fit`` calls this every
    ``SUBNORMAL_FLUSH_STEPS`` steps on a CPU; GPUs are expected to need none of it.
    Explained in Appendix A.
    """
    for state in optimizer.state.values():
        for key in ("exp_avg", "exp_avg_sq"):
            moment = state.get(key)
            if moment is not None and moment.is_floating_point():
                moment.masked_fill_(moment.abs() < torch.finfo(moment.dtype).tiny, 0.0)


def _train_epoch(model, optimizer, loss_fn, images, batch_size, epoch, binarize=False, labels=None) -> float:
    """One pass over ``images`` in random batches; returns the mean loss per image.
    With ``binarize``, each batch's pixels are drawn as Bernoulli(grey level);
    ``labels``, if any, are drawn with the same indices and passed to the loss."""
    model.train()
    n = images.shape[0]
    batches = torch.randperm(n, device=images.device).split(batch_size)
    losses = []
    snapshot = (copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict()))
    flush = images.device.type == "cpu"
    for step, batch in enumerate(batches):
        x = images.index_select(0, batch)
        if binarize:
            x = torch.bernoulli(x)
        if labels is None:
            loss = loss_fn(model, x, reduction="mean")
        else:
            loss = loss_fn(model, x, reduction="mean", labels=labels.index_select(0, batch))
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


def save_checkpoint(path: str | os.PathLike, model: nn.Module, optimizer, history: History) -> None:
    """Write model, optimizer, history and RNG state atomically: a temp file, then rename.

    The checkpoint also records what wrote it (vaelib's version, the model's class and
    sizes), so that resuming with another model can say which.
    """
    from . import __version__  # here, not at the top: the package imports this module

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": asdict(history),
        "rng": torch.get_rng_state(),
        "writer": {"vaelib": __version__, "model": describe_model(model), **_model_sizes(model)},
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
    """
    state, history = _read_checkpoint(path, model, optimizer)
    return _apply_checkpoint(state, history, model, optimizer)


def _read_checkpoint(path, model: nn.Module, optimizer=None) -> tuple[dict, History]:
    """Load and check a checkpoint without applying any of it."""
    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch warns about pickles it is about to refuse
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as error:  # truncated, not a zip archive, or pickled objects of another program
        # torch's own message is about its weights_only switch, which is not the user's problem
        raise CheckpointError(
            f"{path} is not a readable vaelib checkpoint (torch.load stopped with {type(error).__name__}: "
            f"the file is truncated, or another program's). {_START_AFRESH}"
        ) from None
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise CheckpointError(f"{path} is not a vaelib checkpoint: it has no {', '.join(missing)}. {_START_AFRESH}")
    writer = state.get("writer")
    writer = writer if isinstance(writer, dict) else {}
    saved = state["model"]
    if not isinstance(saved, dict) or not all(isinstance(v, torch.Tensor) for v in saved.values()):
        raise CheckpointError(f"{path} is not a vaelib checkpoint: its model entry is not a state dict. {_START_AFRESH}")
    expected = model.state_dict()
    fits = set(saved) == set(expected) and all(saved[key].shape == expected[key].shape for key in expected)
    if not fits or not _same_model(writer, _model_sizes(model)):
        written = writer.get("model") or _describe_state(saved)
        version = f" (vaelib {writer['vaelib']})" if "vaelib" in writer else ""
        raise CheckpointError(
            f"{path} was written by {written}{version}, but this model is {describe_model(model)}. To resume, "
            f"build the model with the checkpoint's class, sizes and likelihood. {_START_AFRESH}"
        )
    rng = state["rng"]
    if not isinstance(rng, torch.Tensor) or rng.dtype != torch.uint8:
        raise CheckpointError(f"{path} holds no random state vaelib can restore. {_START_AFRESH}")
    try:
        history = History(**state["history"])
        if optimizer is not None:
            _check_optimizer_state(state["optimizer"], optimizer)
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(
            f"{path} holds a history or optimizer state vaelib cannot read ({error}). {_START_AFRESH}"
        ) from None
    return state, history


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


def _apply_checkpoint(state: dict, history: History, model: nn.Module, optimizer=None) -> History:
    """Load a checked checkpoint into the model, the optimizer and torch's random state."""
    model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    torch.set_rng_state(state["rng"])
    if "cuda_rng" in state and torch.cuda.is_available() and len(state["cuda_rng"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    for key in ("kl_weight", "test_rate"):  # absent from checkpoints older than chapter 6
        records = getattr(history, key)
        records[:0] = [None] * (len(history) - len(records))
    return history


def _describe_state(state_dict: dict) -> str:
    """A checkpoint from before vaelib recorded its writer: its parameters' shapes."""
    shapes = ", ".join(f"{key} {tuple(value.shape)}" for key, value in list(state_dict.items())[:4])
    return f"a model with parameters {shapes}{', ...' if len(state_dict) > 4 else ''}"


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
