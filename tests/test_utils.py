"""Devices, seeds, modes and the shared input checks."""

import subprocess
import sys

import pytest
import torch

from vaelib import pick_device, seed_all, smoke_mode
from vaelib.utils import check_tensor


def test_pick_device_prefers_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")


def test_seed_all_makes_draws_repeat():
    import numpy as np

    seed_all(5)
    first = (torch.randn(3), np.random.rand(3))
    seed_all(5)
    second = (torch.randn(3), np.random.rand(3))
    assert torch.equal(first[0], second[0]) and (first[1] == second[1]).all()
    with pytest.raises(TypeError, match="seed must be an int, got str"):
        seed_all("5")


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_smoke_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("VAELIB_SMOKE", value)
    assert smoke_mode() is expected


def test_smoke_mode_is_off_when_unset(monkeypatch):
    monkeypatch.delenv("VAELIB_SMOKE", raising=False)
    assert smoke_mode() is False


def test_check_tensor_messages():
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        check_tensor([1, 2], "x")
    with pytest.raises(ValueError, match=r"x must have last dimension 3, got shape \(\)"):
        check_tensor(torch.tensor(1.0), "x", last_dim=3)


def test_import_prints_and_downloads_nothing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import vaelib"], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert result.stdout == "" and result.stderr == ""
    assert list(tmp_path.iterdir()) == []
