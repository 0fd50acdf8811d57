"""Damaged files and edge inputs get a clear message, and nothing is lost (issue 15).

Each test makes the damaged file or the odd input in a temporary folder, asserts the
message a user sees, and, for checkpoints, that the file's bytes are unchanged.
"""

import struct

import numpy as np
import pytest
import torch

import vaelib
from vaelib import (
    VAE,
    CheckpointError,
    ConvVAE,
    DamagedDataError,
    evaluate,
    fit,
    load_checkpoint,
    load_mnist,
    save_checkpoint,
)
from vaelib import train as train_module

RAW = ("MNIST", "raw")


def _idx(array: np.ndarray) -> bytes:
    """An IDX file of unsigned bytes, MNIST's format."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_split(root, images: bytes, labels: bytes, split="train"):
    folder = root.joinpath(*RAW)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = "train" if split == "train" else "t10k"
    (folder / f"{prefix}-images-idx3-ubyte").write_bytes(images)
    (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(labels)
    return folder


def _sound_split(n=10):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28))
    labels = np.arange(n) % 10
    return images, labels


def test_sound_files_on_disk_load_unchanged(tmp_path):
    images, labels = _sound_split()
    _write_split(tmp_path, _idx(images), _idx(labels))
    _write_split(tmp_path, _idx(images[:5]), _idx(labels[:5]), split="test")
    x, y = load_mnist("train", root=tmp_path, download=False, verbose=False)
    assert torch.equal(x, torch.tensor(images.reshape(10, -1), dtype=torch.float32) / 255)
    assert torch.equal(y, torch.tensor(labels))


@pytest.mark.parametrize(
    "damage, file, says",
    [
        ("truncate", "train-images-idx3-ubyte", "truncated"),
        ("garbage", "train-images-idx3-ubyte", "not an IDX file"),
        ("empty", "train-labels-idx1-ubyte", "shorter than an IDX header"),
        ("bad label", "train-labels-idx1-ubyte", "labels up to 200"),
        ("wrong shape", "train-images-idx3-ubyte", "2 dimensions where 3"),
    ],
)
def test_damaged_mnist_files_name_the_file_and_how_to_recover(tmp_path, damage, file, says):
    images, labels = _sound_split()
    image_bytes, label_bytes = _idx(images), _idx(labels)
    if damage == "truncate":
        image_bytes = image_bytes[: len(image_bytes) // 2]
    elif damage == "garbage":
        image_bytes = b"<html>mirror error</html>" * 100
    elif damage == "empty":
        label_bytes = b""
    elif damage == "bad label":
        label_bytes = _idx(np.array([0, 1, 2, 200, 4, 5, 6, 7, 8, 9]))
    elif damage == "wrong shape":
        image_bytes = _idx(images.reshape(10, -1))
    folder = _write_split(tmp_path, image_bytes, label_bytes)
    for download in (False, True):  # never a silent fallback to other data
        with pytest.raises(DamagedDataError) as caught:
            load_mnist("train", root=tmp_path, download=download, verbose=False)
        message = str(caught.value)
        assert file in message and str(folder) in message and says in message
        assert "Delete it" in message and "downloads a fresh copy" in message


def test_images_and_labels_of_different_counts_are_damaged(tmp_path):
    images, labels = _sound_split()
    _write_split(tmp_path, _idx(images), _idx(labels[:7]))
    with pytest.raises(DamagedDataError, match="10 images but 7 labels"):
        load_mnist("train", root=tmp_path, download=False, verbose=False)


def test_torchvision_alone_would_fail_without_a_message(tmp_path):
    """The reason for the checks: torchvision's own reader stops on a truncated file
    with an error that names neither the file nor a way out."""
    torchvision = pytest.importorskip("torchvision")
    images, labels = _sound_split()
    _write_split(tmp_path, _idx(images)[:1000], _idx(labels))
    _write_split(tmp_path, _idx(images[:5]), _idx(labels[:5]), split="test")
    with pytest.raises(Exception) as caught:
        torchvision.datasets.MNIST(str(tmp_path), train=True, download=False)
    assert "train-images-idx3-ubyte" not in str(caught.value)


def _small():
    return VAE(hidden_dim=32, latent_dim=4)


@pytest.fixture
def digits(offline_digits):
    (train, _), (test, _) = offline_digits
    return train[:500], test[:200]


def _train(digits, epochs, model=None, **kwargs):
    vaelib.seed_all(0)
    model = model if model is not None else _small()
    history = fit(model, digits[0], digits[1], epochs=epochs, batch_size=100, device="cpu", progress=False, **kwargs)
    return model, history


@pytest.mark.parametrize("kind", ["truncated", "another program's pickle", "random bytes", "empty"])
def test_a_file_that_is_not_a_readable_checkpoint_is_left_untouched(digits, tmp_path, kind):
    path = tmp_path / "vae.pt"
    if kind == "truncated":
        _train(digits, 1, checkpoint=path)
        path.write_bytes(path.read_bytes()[:2000])
    elif kind == "another program's pickle":
        import pickle

        path.write_bytes(pickle.dumps({"weights": [1, 2, 3], "owner": object.__name__}))
    elif kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    else:
        path.write_bytes(b"")
    before = path.read_bytes()
    with pytest.raises(CheckpointError) as caught:
        _train(digits, 2, checkpoint=path)
    message = str(caught.value)
    assert str(path) in message and "not a readable vaelib checkpoint" in message
    assert "left as it is" in message and "delete it" in message
    assert "weights_only" not in message  # torch's advice does not apply to a user
    assert path.read_bytes() == before


def test_another_programs_torch_file_is_not_a_vaelib_checkpoint(digits, tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"state_dict": {"w": torch.zeros(3)}}, path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match="not a vaelib checkpoint: it has no model, optimizer, history, rng"):
        _train(digits, 2, checkpoint=path)
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    "other, says",
    [
        (lambda: VAE(hidden_dim=48, latent_dim=4), "VAE(data_dim=784, hidden_dim=48, latent_dim=4"),
        (lambda: ConvVAE(latent_dim=4, hidden_dim=32, channels=(4, 8)), "ConvVAE(data_dim=784, hidden_dim=32"),
        (
            lambda: VAE(hidden_dim=32, latent_dim=4, likelihood="continuous_bernoulli"),
            "VAE(data_dim=784, hidden_dim=32, latent_dim=4, likelihood='continuous_bernoulli')",
        ),
    ],
)
def test_resuming_with_another_model_names_both_and_keeps_the_file(digits, tmp_path, other, says):
    path = tmp_path / "vae.pt"
    _train(digits, 1, checkpoint=path)
    before = path.read_bytes()
    model = other()
    weights = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(CheckpointError) as caught:
        _train(digits, 2, model=model, checkpoint=path)
    message = str(caught.value)
    assert "was written by VAE(data_dim=784, hidden_dim=32, latent_dim=4, likelihood='bernoulli')" in message
    assert f"(vaelib {vaelib.__version__})" in message and f"this model is {says}" in message
    assert path.read_bytes() == before
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))  # not half-loaded


def test_a_checkpoint_without_a_writer_record_still_loads_and_still_says_what_misfits(digits, tmp_path):
    """Checkpoints written before vaelib recorded its writer."""
    path = tmp_path / "old.pt"
    model, _ = _train(digits, 1)
    optimizer = torch.optim.Adam(model.parameters())
    save_checkpoint(path, model, optimizer, vaelib.History(device="cpu"))
    state = torch.load(path, weights_only=True)
    del state["writer"]
    torch.save(state, path)
    restored = _small()
    load_checkpoint(path, restored)
    assert all(torch.equal(a, b) for a, b in zip(restored.parameters(), model.parameters()))
    with pytest.raises(CheckpointError, match=r"written by a model with parameters encoder.0.weight \(32, 784\)"):
        load_checkpoint(path, VAE(hidden_dim=16, latent_dim=4))


def test_interrupted_training_loses_at_most_the_current_epoch(digits, tmp_path, monkeypatch):
    straight, straight_history = _train(digits, 4)
    path = tmp_path / "vae.pt"
    real_epoch = train_module._train_epoch

    def interrupted(model, optimizer, loss_fn, images, batch_size, epoch, *args, **kwargs):
        if epoch == 3:  # partway through: some steps of epoch 3 are taken, then Ctrl-C
            real_epoch(model, optimizer, loss_fn, images[:200], batch_size, epoch, *args, **kwargs)
            raise KeyboardInterrupt
        return real_epoch(model, optimizer, loss_fn, images, batch_size, epoch, *args, **kwargs)

    monkeypatch.setattr(train_module, "_train_epoch", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _train(digits, 4, checkpoint=path)
    assert load_checkpoint(path, _small()).epoch == [1, 2]  # only epoch 3 is lost
    monkeypatch.setattr(train_module, "_train_epoch", real_epoch)
    resumed = _small()
    history = fit(resumed, digits[0], digits[1], epochs=4, batch_size=100, device="cpu", progress=False, checkpoint=path)
    assert history.epoch == [1, 2, 3, 4]
    assert history.train_loss == pytest.approx(straight_history.train_loss, rel=1e-6)
    for a, b in zip(resumed.parameters(), straight.parameters()):
        torch.testing.assert_close(a, b)


def test_evaluate_with_no_images_is_a_clear_error():
    with pytest.raises(ValueError, match="images is empty"):
        evaluate(_small(), torch.zeros(0, 784))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_grey_levels_0_to_255_get_the_hint_to_divide(digits, dtype):
    images = (digits[0] * 255).round().to(dtype)
    with pytest.raises(ValueError) as caught:
        fit(_small(), images, epochs=1, device="cpu", progress=False)
    message = str(caught.value)
    assert "in [0, 1]" in message and "divide by 255" in message
    assert f"[0, {images.max().item():.4g}]" in message


def test_values_outside_0_255_get_no_such_hint(digits):
    with pytest.raises(ValueError) as caught:
        fit(_small(), digits[0] - 0.5, epochs=1, device="cpu", progress=False)
    assert "divide by 255" not in str(caught.value)
