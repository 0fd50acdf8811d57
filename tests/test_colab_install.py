"""Installing vaelib the way the Colab bootstrap cell does must leave an existing torch alone.

A fresh virtual environment gets a torch other than the pinned one (the local
torch 2.13.0+cpu file, standing in for Colab's preinstalled torch); then the bootstrap's
own pip command runs, pointed at this checkout instead of the repository url. torch
must be the same version afterwards, and vaelib must import silently and train a step.
"""

import ast
import glob
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LOCAL_TORCH = sorted(glob.glob("/opt/wheels/torch-2.13.0+cpu-*.whl"))
TRAIN_A_STEP = """
import torch, vaelib
torch.manual_seed(0)
model = vaelib.VAE(data_dim=16, hidden_dim=8, latent_dim=2)
before = [p.detach().clone() for p in model.parameters()]
x = torch.rand(32, 16)
loss = vaelib.negative_elbo(model, x)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
loss.backward()
optimizer.step()
changed = any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
print(torch.__version__, float(loss), changed)
"""


def _bootstrap_pip_args():
    """The argument list of the bootstrap's subprocess.run call, from chapter 0."""
    notebook = json.loads((ROOT / "notebooks" / "00_from_autoencoders_to_vaes.ipynb").read_text())
    source = "".join(notebook["cells"][1]["source"])
    call = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "run")
    args = call.args[0].elts
    assert ast.unparse(args[0]) == "sys.executable"
    return [ast.literal_eval(a) for a in args[1:]]


@pytest.mark.skipif(not LOCAL_TORCH, reason="needs the local torch 2.13.0+cpu wheel in /opt/wheels (CI machines have it)")
def test_bootstrap_install_keeps_the_existing_torch(tmp_path):
    env_dir = tmp_path / "colab-like"
    venv.create(env_dir, with_pip=True)
    python = str(env_dir / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", LOCAL_TORCH[-1]], check=True)

    pip_args = _bootstrap_pip_args()
    requirement = next(a for a in pip_args if a.startswith("vaelib @ git+"))
    source = tmp_path / "source"  # a copy, so that pip's build leaves nothing in the checkout
    shutil.copytree(ROOT / "vaelib", source / "vaelib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    pip_args[pip_args.index(requirement)] = f"vaelib @ {source.as_uri()}"
    subprocess.run([python, *pip_args], check=True)

    silent = subprocess.run([python, "-c", "import vaelib"], capture_output=True, text=True, check=True)
    assert silent.stdout == "" and silent.stderr == ""
    result = subprocess.run([python, "-c", TRAIN_A_STEP], capture_output=True, text=True, check=True)
    version, loss, changed = result.stdout.split()
    assert version == "2.13.0+cpu"  # torch was neither upgraded nor reinstalled
    assert float(loss) > 0 and changed == "True"
