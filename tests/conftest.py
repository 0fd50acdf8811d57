"""Shared fixtures: the real offline digits, small models, and figure cleanup."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import vaelib  # noqa: E402


@pytest.fixture(scope="session")
def offline_digits(tmp_path_factory):
    """The offline MNIST sample, loaded without touching the network or data/."""
    root = tmp_path_factory.mktemp("no-data")
    train = vaelib.load_mnist("train", root=root, download=False, verbose=False)
    test = vaelib.load_mnist("test", root=root, download=False, verbose=False)
    return train, test


@pytest.fixture
def small_vae():
    torch.manual_seed(0)
    return vaelib.VAE(data_dim=6, hidden_dim=5, latent_dim=3)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")
