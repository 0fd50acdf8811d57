"""Appendix A's speed material: fused Adam, subnormal moments, float32 matmul precision,
and the source post's DataLoader pipeline that ``fit`` is timed against.

``fit`` uses the first three; chapters and ``bench/`` use them to measure what each buys.
"""

from __future__ import annotations

import contextlib
import contextvars
import time

import torch
import torch.nn.functional as F
from torch import nn

from .history import History
from .utils import pick_device

MATMUL_PRECISIONS = ("highest", "high", "medium")
SUBNORMAL_FLUSH_STEPS = 16
_TRAINING_PRECISION = contextvars.ContextVar("training_matmul_precision", default="medium")


def make_adam(model: nn.Module, lr: float, device: torch.device) -> torch.optim.Optimizer:
    """Adam over ``model``'s parameters, as one fused kernel on CPU and CUDA where this
    torch has it (2.4 and later): the same arithmetic as the default, fewer launches."""
    if device.type in ("cpu", "cuda"):
        try:
            return torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        except (RuntimeError, TypeError, ValueError):  # an older torch without a fused CPU Adam
            pass
    return torch.optim.Adam(model.parameters(), lr=lr)


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


@contextlib.contextmanager
def training_matmul_precision(precision: str):
    """Inside the block, ``fit`` trains under ``torch.set_float32_matmul_precision(precision)``.

    Outside any such block it trains under ``"medium"``, which permits float32 matrix
    products to use bfloat16 internally on CPUs with AMX or AVX512-BF16 (whether the
    library then does is its choice: Appendix A measures it) and TF32 on CUDA GPUs from
    Ampere on; weights, gradients and Adam's state stay float32. ``"highest"`` keeps
    every product in exact float32. Where the hardware has no faster format, the
    settings compute the same thing. ``fit`` applies the setting to its training passes
    only and restores torch's own afterwards; its test losses are exact float32.
    Introduced in Appendix A.
    """
    if precision not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul precision must be one of {MATMUL_PRECISIONS}, got {precision!r}")
    token = _TRAINING_PRECISION.set(precision)
    try:
        yield
    finally:
        _TRAINING_PRECISION.reset(token)


def training_precision() -> str:
    """The float32 matmul precision ``fit`` trains under here (``training_matmul_precision``)."""
    return _TRAINING_PRECISION.get()


def _cpu_has_bf16() -> bool:
    """True on x86 CPUs whose instructions multiply bfloat16 natively (AMX or AVX512-BF16)."""
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def effective_precision(device: torch.device, requested: str) -> str:
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
    precision = effective_precision(device, requested)
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
        synchronize(device)
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
        synchronize(device)
        history.append(total.item() / len(dataset), None, time.perf_counter() - start)
    return history


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA), so that a timer reads the work's end."""
    if device.type == "cuda":
        torch.cuda.synchronize()
