"""tools/pin_colab.py rewrites a notebook's badge and bootstrap to the configured tag."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("pin_colab", ROOT / "tools" / "pin_colab.py")
pin_colab = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pin_colab)
CHAPTER = ROOT / "notebooks" / "01_densities_and_expectation.ipynb"


def _first_two(path):
    cells = json.loads(path.read_text())["cells"]
    return "".join(cells[0]["source"]), "".join(cells[1]["source"])


def test_pin_rewrites_badge_and_bootstrap_and_nothing_else(tmp_path):
    path = tmp_path / CHAPTER.name
    shutil.copy(CHAPTER, path)
    url, ref = pin_colab.release()
    assert pin_colab.pin(path, "https://github.com/someone/fork", "v9.9.9") is True
    badge, boot = _first_two(path)
    assert f"/github/someone/fork/blob/v9.9.9/notebooks/{CHAPTER.name})" in badge
    assert '"vaelib @ git+https://github.com/someone/fork@v9.9.9"' in boot
    assert pin_colab.pin(path, url, ref) is True
    assert path.read_text() == CHAPTER.read_text()  # back to the committed notebook, byte for byte
    assert pin_colab.pin(path, url, ref) is False


def test_pin_refuses_a_notebook_without_a_bootstrap(tmp_path):
    notebook = json.loads(CHAPTER.read_text())
    notebook["cells"][1]["source"] = ["print('no install here')\n"]
    path = tmp_path / "broken.ipynb"
    path.write_text(json.dumps(notebook))
    with pytest.raises(SystemExit, match="no vaelib requirement"):
        pin_colab.pin(path, "https://github.com/a/b", "v1.0.0")
