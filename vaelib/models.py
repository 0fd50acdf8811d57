"""The course's neural models: the source's MLP VAE (with its likelihoods), a
convolutional VAE, a conditional VAE and a plain autoencoder. The exact linear-Gaussian
model is in ``linear_gaussian.py``.

Every model offers ``log_likelihood(x, z)`` = log p(x | z), shape ``(..., n)``, which
the losses and the importance-sampling estimator call.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.distributions import ContinuousBernoulli

from .probability import (
    bernoulli_log_likelihood,
    continuous_bernoulli_log_likelihood,
    gaussian_log_likelihood,
    kl_normal_std,
)
from .utils import check_tensor

MNIST_SIDE = 28  # MNIST images are 28 x 28 pixels
MNIST_DIM = MNIST_SIDE * MNIST_SIDE
SEED_HIDDEN_DIM = 400  # the source post's hidden layer
SEED_LATENT_DIM = 20  # the source post's latent size
LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian")
LEARNED_SIGMA = ("learned", "learned_per_pixel")


def _check_sizes(**sizes: int) -> None:
    for name, size in sizes.items():
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"{name} must be a positive int, got {size!r}")


def _mlp(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, out_dim))


class _MLPLatentModel(nn.Module):
    """What the VAE and the autoencoder share: checked sizes D, H, L, and a decoder
    ``self.decoder`` (built by each subclass, so layers are created in its own order)
    that maps z to Bernoulli pixel logits."""

    def __init__(self, data_dim: int, hidden_dim: int, latent_dim: int) -> None:
        super().__init__()
        _check_sizes(data_dim=data_dim, hidden_dim=hidden_dim, latent_dim=latent_dim)
        self.data_dim, self.hidden_dim, self.latent_dim = data_dim, hidden_dim, latent_dim

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits of p(x | z): ``(..., L)`` → ``(..., D)``."""
        check_tensor(z, "z", last_dim=self.latent_dim)
        return self.decoder(z)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) under Bernoulli pixels: x ``(n, D)``, z ``(..., n, L)`` → ``(..., n)``."""
        return bernoulli_log_likelihood(x, self.decode(z))


class VAE(_MLPLatentModel):
    """The source's VAE: x → hidden (ReLU) → (mu, logvar); z → hidden (ReLU) → logits.

    Sizes D = ``data_dim``, H = ``hidden_dim``, L = ``latent_dim``. The decoder returns
    logits (never probabilities, so the loss stays stable), which ``likelihood``
    turns into p(x | z):

    - ``"bernoulli"`` (the default, the source's): independent Bernoulli pixels with
      probabilities sigmoid(logits). A likelihood for binary pixels; on grey levels
      its log is only a negative cross-entropy, which still trains well.
    - ``"continuous_bernoulli"``: the same shape made a density on [0, 1] by its
      normalizer (Loaiza-Ganem and Cunningham, 2019), so grey levels have a real
      log p(x | z).
    - ``"gaussian"``: N(x; sigmoid(logits), σ_x² I), the squared-error family.
      ``sigma_x`` is a positive float (fixed), ``"learned"`` (one σ_x for every
      pixel) or ``"learned_per_pixel"``; a learned σ_x starts at 1 and is trained
      with the rest of the model.

    Introduced in chapter 5.
    """

    def __init__(
        self,
        data_dim: int = MNIST_DIM,
        hidden_dim: int = SEED_HIDDEN_DIM,
        latent_dim: int = SEED_LATENT_DIM,
        likelihood: str = "bernoulli",
        sigma_x: float | str | None = None,
    ) -> None:
        super().__init__(data_dim, hidden_dim, latent_dim)
        if likelihood not in LIKELIHOODS:
            raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.encoder = nn.Sequential(nn.Linear(data_dim, hidden_dim), nn.ReLU())
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.decoder = _mlp(latent_dim, hidden_dim, data_dim)
        self.likelihood = likelihood
        self.sigma_x = sigma_x
        if likelihood != "gaussian":
            if sigma_x is not None:
                raise ValueError(f"sigma_x is for likelihood='gaussian' only, got sigma_x={sigma_x!r} with {likelihood!r}")
            return
        if sigma_x in LEARNED_SIGMA:
            shape = (data_dim,) if sigma_x == "learned_per_pixel" else ()
            # log σ_x², trained with the rest; created last, so the layers above
            # draw the same initial weights as in the other likelihoods
            self.log_sigma2_x = nn.Parameter(torch.zeros(shape))
        elif isinstance(sigma_x, (int, float)) and not isinstance(sigma_x, bool) and sigma_x > 0:
            self.register_buffer("log_sigma2_x", torch.tensor(2.0 * math.log(sigma_x)))
        else:
            raise ValueError(
                "likelihood='gaussian' needs sigma_x: a positive float, 'learned' or "
                f"'learned_per_pixel'; got {sigma_x!r}"
            )

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) under this model's ``likelihood``: x ``(n, D)``, z ``(..., n, L)`` → ``(..., n)``."""
        logits = self.decode(z)
        if self.likelihood == "bernoulli":
            return bernoulli_log_likelihood(x, logits)
        if self.likelihood == "continuous_bernoulli":
            return continuous_bernoulli_log_likelihood(x, logits)
        return gaussian_log_likelihood(x, torch.sigmoid(logits), self.log_sigma2_x)

    def pixel_mean(self, z: torch.Tensor) -> torch.Tensor:
        """E[x | z], the decoded image: ``(..., L)`` → ``(..., D)``. For the Bernoulli
        and the Gaussian it is sigmoid(logits); for the continuous Bernoulli it is that
        distribution's mean, which differs from its parameter λ = sigmoid(logits)."""
        logits = self.decode(z)
        if self.likelihood == "continuous_bernoulli":
            return ContinuousBernoulli(logits=logits).mean
        return torch.sigmoid(logits)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x) = N(mu, diag exp(logvar)): ``(n, D)`` → two ``(n, L)`` tensors."""
        check_tensor(x, "x", ndim=2, last_dim=self.data_dim)
        hidden = self.encoder(x)
        return self.fc_mu(hidden), self.fc_logvar(hidden)

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + std * eps with eps ~ N(0, I): differentiable in mu and logvar.

        Shapes ``(n, L)`` → ``(n, L)``. Introduced in chapter 4.
        """
        std = torch.exp(0.5 * logvar)  # σ = exp(½ log σ²)
        eps = torch.randn_like(std)
        return mu + std * eps

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One reparameterized pass: ``(n, D)`` → (logits ``(n, D)``, mu, logvar ``(n, L)``)."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Decode ``n`` draws z ~ N(0, I) into images E[x | z], shape ``(n, D)``
        (pixel probabilities for the Bernoulli)."""
        _check_sizes(n=n)
        device = next(self.parameters()).device
        z = torch.randn(n, self.latent_dim, device=device, generator=generator)
        return self.pixel_mean(z)


class ConvVAE(VAE):
    """A convolutional VAE for 28 × 28 images with the ``VAE``'s interface: flat images
    ``(n, 784)`` in, Bernoulli pixel logits out, so ``fit``, ``evaluate`` and
    ``importance_log_likelihood`` take it unchanged.

    Encoder: two stride-2 convolutions (1 → ``channels[0]`` → ``channels[1]``, 4 × 4
    kernels, 28 → 14 → 7 pixels), then a ``hidden_dim`` layer and (mu, logvar).
    Decoder: the mirror image, with transposed convolutions (7 → 14 → 28). ReLU
    between layers. Introduced in chapter 7.
    """

    def __init__(
        self, latent_dim: int = SEED_LATENT_DIM, hidden_dim: int = 256, channels: tuple[int, int] = (32, 64)
    ) -> None:
        nn.Module.__init__(self)  # VAE's own __init__ would build the MLP layers
        _check_sizes(latent_dim=latent_dim, hidden_dim=hidden_dim)
        if len(channels) != 2:
            raise ValueError(f"channels must be two ints, got {channels!r}")
        c1, c2 = channels
        _check_sizes(channels_0=c1, channels_1=c2)
        self.data_dim, self.hidden_dim, self.latent_dim = MNIST_DIM, hidden_dim, latent_dim
        self.likelihood, self.sigma_x = "bernoulli", None
        self.channels = (c1, c2)
        side = MNIST_SIDE // 4  # two stride-2 layers: 28 → 14 → 7
        self.encoder = nn.Sequential(
            nn.Unflatten(1, (1, MNIST_SIDE, MNIST_SIDE)),
            nn.Conv2d(1, c1, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(c2 * side * side, hidden_dim),
            nn.ReLU(),
        )
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, c2 * side * side),
            nn.ReLU(),
            nn.Unflatten(1, (c2, side, side)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),
            nn.Flatten(),
        )

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits of p(x | z): ``(..., L)`` → ``(..., 784)``; leading dimensions
        (importance samples) are folded into the batch and unfolded again."""
        check_tensor(z, "z", last_dim=self.latent_dim)
        flat = z.reshape(-1, self.latent_dim)
        return self.decoder(flat).reshape(*z.shape[:-1], self.data_dim)


def check_labels(labels, name: str, num_classes: int, length: int | None = None) -> None:
    """Raise a ``TypeError``/``ValueError`` naming ``name`` unless ``labels`` are int64
    class indices in [0, ``num_classes``), one per image (``length`` of them)."""
    check_tensor(labels, name, ndim=1)
    if labels.dtype != torch.int64:
        raise TypeError(f"{name} must hold int64 class indices, got dtype {labels.dtype}")
    if length is not None and len(labels) != length:
        raise ValueError(f"{name} must hold one label per image: {length} images, {len(labels)} labels")
    if labels.numel() and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{name} must be class indices in [0, {num_classes}), got values in "
            f"[{labels.min().item()}, {labels.max().item()}]"
        )


class ConditionalVAE(nn.Module):
    """A VAE conditioned on a class label y: q(z | x, y), p(x | z, y), prior p(z) = N(0, I)
    (the generative half of Kingma et al.'s 2014 M2; Sohn et al. 2015, who named the
    conditional VAE, also let the prior depend on the input).

    The source's MLP with the label's one-hot vector appended to the encoder's input
    (x, y) and to the decoder's input (z, y): x, y → hidden (ReLU) → (mu, logvar);
    z, y → hidden (ReLU) → Bernoulli pixel logits. ``labels`` are int64 class indices,
    one per image. Introduced in chapter 7.
    """

    conditional = True
    likelihood = "bernoulli"

    def __init__(
        self,
        data_dim: int = MNIST_DIM,
        hidden_dim: int = SEED_HIDDEN_DIM,
        latent_dim: int = SEED_LATENT_DIM,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        _check_sizes(data_dim=data_dim, hidden_dim=hidden_dim, latent_dim=latent_dim, num_classes=num_classes)
        self.data_dim, self.hidden_dim, self.latent_dim = data_dim, hidden_dim, latent_dim
        self.num_classes = num_classes
        self.encoder = nn.Sequential(nn.Linear(data_dim + num_classes, hidden_dim), nn.ReLU())
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.decoder = _mlp(latent_dim + num_classes, hidden_dim, data_dim)

    def _one_hot(self, labels: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        check_labels(labels, "labels", self.num_classes, length=like.shape[-2])
        one_hot = nn.functional.one_hot(labels, self.num_classes).to(like.dtype)
        return one_hot.expand(*like.shape[:-1], self.num_classes)

    def encode(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x, y) = N(mu, diag exp(logvar)): x ``(n, D)``, labels ``(n,)`` → two ``(n, L)``."""
        check_tensor(x, "x", ndim=2, last_dim=self.data_dim)
        hidden = self.encoder(torch.cat([x, self._one_hot(labels, x)], dim=-1))
        return self.fc_mu(hidden), self.fc_logvar(hidden)

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Pixel logits of p(x | z, y): z ``(..., n, L)``, labels ``(n,)`` → ``(..., n, D)``."""
        check_tensor(z, "z", last_dim=self.latent_dim)
        if z.dim() < 2:
            raise ValueError(f"z must have a batch dimension, got shape {tuple(z.shape)}")
        return self.decoder(torch.cat([z, self._one_hot(labels, z)], dim=-1))

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + std * eps with eps ~ N(0, I), as in ``VAE``."""
        std = torch.exp(0.5 * logvar)
        return mu + std * torch.randn_like(std)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """log p(x | z, y) under Bernoulli pixels: x ``(n, D)``, z ``(..., n, L)`` → ``(..., n)``."""
        return bernoulli_log_likelihood(x, self.decode(z, labels))

    def pixel_mean(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """E[x | z, y], the decoded pixel probabilities: ``(..., n, L)`` → ``(..., n, D)``."""
        return torch.sigmoid(self.decode(z, labels))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One reparameterized pass: (logits ``(n, D)``, mu, logvar ``(n, L)``)."""
        mu, logvar = self.encode(x, labels)
        return self.decode(self.reparameterize(mu, logvar), labels), mu, logvar

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image per label: z ~ N(0, I) decoded under that label into pixel
        probabilities, shape ``(len(labels), D)``."""
        check_labels(labels, "labels", self.num_classes)
        device = next(self.parameters()).device
        z = torch.randn(len(labels), self.latent_dim, device=device, generator=generator)
        return self.pixel_mean(z, labels.to(device))


class Autoencoder(_MLPLatentModel):
    """A deterministic autoencoder with the VAE's layer sizes: x → z → logits.

    Introduced in chapter 0, where it reconstructs well yet cannot generate.
    """

    def __init__(
        self,
        data_dim: int = MNIST_DIM,
        hidden_dim: int = SEED_HIDDEN_DIM,
        latent_dim: int = SEED_LATENT_DIM,
    ) -> None:
        super().__init__(data_dim, hidden_dim, latent_dim)
        self.encoder = _mlp(data_dim, hidden_dim, latent_dim)
        self.decoder = _mlp(latent_dim, hidden_dim, data_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code z of each image: ``(n, D)`` → ``(n, L)``."""
        check_tensor(x, "x", ndim=2, last_dim=self.data_dim)
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits, ``(n, D)`` → ``(n, D)``."""
        return self.decode(self.encode(x))
