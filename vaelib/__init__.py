"""vaelib: the small package behind the course "Variational Autoencoders, from AE to VAE".

Importing it prints nothing and downloads nothing. Each public name's docstring says
which chapter introduces it.
"""

from .data import DamagedDataError, PerItemDataset, load_mnist, read_idx
from .diagnostics import active_units, kl_per_dimension, mutual_information, posterior_mean_variance, rate_distortion
from .evaluate import evaluate, importance_log_likelihood, nearest_distance
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from .diagrams import graphical_model, reparameterization_graph, vae_flow_diagram
from .explorer import Explorer, explorer
from .history import History
from .linear_gaussian import LinearGaussian
from .losses import beta_objective, elbo_terms, negative_elbo, reconstruction_loss
from .models import MNIST_DIM, MNIST_SIDE, Autoencoder, ConditionalVAE, ConvVAE, VAE
from .objectives import BetaObjective, NegativeELBO, Objective, ReconstructionLoss
from .plot import image_grid, interpolation_strip, latent_manifold, latent_scatter, reconstruction_grid, training_curves
from .probability import (
    bernoulli_log_likelihood,
    continuous_bernoulli_log_likelihood,
    continuous_bernoulli_log_normalizer,
    gaussian_log_likelihood,
    kl_normal_std,
    mc_estimate,
)
from .seeds import Spread, clearly_below
from .speed import fit_dataloader, training_matmul_precision
from .train import NonFiniteLossError, fit
from .utils import pick_device, seed_all, smoke_mode, value_checks
from .version import __version__

__all__ = [
    "Autoencoder",
    "BetaObjective",
    "ConditionalVAE",
    "ConvVAE",
    "active_units",
    "kl_per_dimension",
    "mutual_information",
    "posterior_mean_variance",
    "rate_distortion",
    "History",
    "LinearGaussian",
    "MNIST_DIM",
    "MNIST_SIDE",
    "NegativeELBO",
    "NonFiniteLossError",
    "Objective",
    "ReconstructionLoss",
    "Spread",
    "clearly_below",
    "CheckpointError",
    "Explorer",
    "explorer",
    "DamagedDataError",
    "PerItemDataset",
    "VAE",
    "bernoulli_log_likelihood",
    "beta_objective",
    "continuous_bernoulli_log_likelihood",
    "continuous_bernoulli_log_normalizer",
    "elbo_terms",
    "evaluate",
    "fit",
    "fit_dataloader",
    "gaussian_log_likelihood",
    "graphical_model",
    "image_grid",
    "importance_log_likelihood",
    "interpolation_strip",
    "kl_normal_std",
    "latent_manifold",
    "latent_scatter",
    "load_checkpoint",
    "load_mnist",
    "mc_estimate",
    "nearest_distance",
    "negative_elbo",
    "pick_device",
    "read_idx",
    "reconstruction_grid",
    "reconstruction_loss",
    "reparameterization_graph",
    "save_checkpoint",
    "seed_all",
    "smoke_mode",
    "training_curves",
    "training_matmul_precision",
    "vae_flow_diagram",
    "value_checks",
]
