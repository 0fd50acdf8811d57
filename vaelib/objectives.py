"""Training objectives: what ``fit`` minimizes, each one object with its settings.

An objective is called as ``objective(model, x, reduction="mean")``, with ``labels=``
for a conditional model, and returns the loss to minimize in nats per image. The
classes here carry what ``fit`` needs besides the call: whether each batch is
binarized afresh, a per-step schedule (the KL weight's warm-up), ``settings()`` that
a checkpoint records so that a run resumes only under the objective it began with, and
``check`` for a model or a run the objective cannot train.

- ``NegativeELBO()``: the negative ELBO, ``negative_elbo`` (a VAE's default).
- ``BetaObjective(beta, warmup_epochs, free_bits)``: the β objective of chapter 6.
- ``ReconstructionLoss()``: the autoencoder's loss, ``reconstruction_loss`` (its default).

Each takes ``binarize=True`` to train on dynamically binarized images: every pixel of
every batch drawn afresh as Bernoulli(grey level), so each epoch sees new binary images
(the protocol of Burda et al. 2016). What is then minimized is the loss averaged over
binarizations as well as over z. Any other callable with the call signature above
works too (``as_objective`` wraps it).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from .losses import beta_objective, check_non_negative, negative_elbo, reconstruction_loss


class Objective:
    """The base of ``fit``'s objectives: subclasses define ``loss``."""

    def __init__(self, binarize: bool = False) -> None:
        if not isinstance(binarize, bool):
            raise ValueError(f"binarize must be True or False, got {binarize!r}")
        self.binarize = binarize

    def loss(self, model: nn.Module, x: torch.Tensor, reduction: str, labels) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, model: nn.Module, x: torch.Tensor, reduction: str = "mean", labels=None) -> torch.Tensor:
        if self.binarize:
            x = torch.bernoulli(x)
        return self.loss(model, x, reduction, labels)

    def check(self, model: nn.Module, epochs: int) -> None:
        """Raise ``ValueError`` if this objective cannot train ``model`` for ``epochs`` epochs."""

    def start(self, steps_per_epoch: int, start_epoch: int) -> None:
        """Called by ``fit`` before training: count steps from epoch ``start_epoch`` (0 afresh)."""

    @property
    def kl_weight(self) -> float | None:
        """The weight on the KL term at the last step, for an objective that has one."""
        return None

    def settings(self) -> dict:
        """What a checkpoint records of the objective: its class and parameters."""
        return {"name": type(self).__name__, "binarize": self.binarize}

    def __repr__(self) -> str:
        return describe_settings(self.settings())


class NegativeELBO(Objective):
    """−ELBO = −E_q[log p(x | z)] + KL(q(z | x) || p(z)), one reparameterized z per image
    (``negative_elbo``): what ``fit`` trains a VAE on by default. Introduced in chapter 5."""

    def loss(self, model, x, reduction, labels):
        return negative_elbo(model, x, reduction=reduction, labels=labels)

    def check(self, model, epochs):
        if not hasattr(model, "reparameterize"):
            raise ValueError(
                f"{type(self).__name__} weighs a VAE's KL term; {type(model).__name__} has none "
                "(train an autoencoder on ReconstructionLoss)"
            )


class BetaObjective(NegativeELBO):
    """The β objective 𝒟̂ + β R̂ of chapter 6 (``beta_objective``), with its schedule.

    ``beta`` weighs the KL term (the rate); ``warmup_epochs`` raises that weight
    linearly, step by step, from 0 at the first step to ``beta`` at the first step after
    epoch ``warmup_epochs`` (the linear warm-up of Sønderby et al., 2016): the weight of
    step s, counted from 0 over the whole run, is β · min(1, s / warm-up steps).
    ``free_bits`` is the λ of Kingma et al. (2016): each latent dimension's KL, averaged
    over the batch, counts as at least λ nats. With β = 1, no warm-up and no free bits it
    is the negative ELBO, computed by ``negative_elbo``. Introduced in chapter 6.
    """

    def __init__(self, beta: float = 1.0, warmup_epochs: int = 0, free_bits: float = 0.0, binarize: bool = False):
        super().__init__(binarize)
        check_non_negative(beta=beta, free_bits=free_bits)
        if isinstance(warmup_epochs, bool) or not isinstance(warmup_epochs, int) or warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be an int >= 0, got {warmup_epochs!r}")
        self.beta, self.warmup_epochs, self.free_bits = float(beta), warmup_epochs, float(free_bits)
        self.start(steps_per_epoch=1, start_epoch=0)

    def check(self, model, epochs):
        super().check(model, epochs)
        if self.warmup_epochs > epochs:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) is longer than training (epochs={epochs}): the KL "
                "weight would never reach beta; use warmup_epochs <= epochs"
            )

    def start(self, steps_per_epoch, start_epoch):
        self.warmup_steps = self.warmup_epochs * steps_per_epoch
        self.step = start_epoch * steps_per_epoch
        self.weight = self._weight_at(self.step)

    def _weight_at(self, step: int) -> float:
        return self.beta if step >= self.warmup_steps else self.beta * step / self.warmup_steps

    @property
    def kl_weight(self) -> float:
        return self.weight

    def loss(self, model, x, reduction, labels):
        self.weight = self._weight_at(self.step)
        self.step += 1
        if (self.beta, self.warmup_epochs, self.free_bits) == (1.0, 0, 0.0):
            return negative_elbo(model, x, reduction=reduction, labels=labels)
        return beta_objective(model, x, beta=self.weight, free_bits=self.free_bits, reduction=reduction, labels=labels)

    def settings(self):
        return {"name": type(self).__name__, "beta": self.beta, "warmup_epochs": self.warmup_epochs,
                "free_bits": self.free_bits, "binarize": self.binarize}


class ReconstructionLoss(Objective):
    """The autoencoder's binary cross-entropy of x and decode(encode(x))
    (``reconstruction_loss``): what ``fit`` trains an autoencoder on by default.
    Introduced in chapter 0."""

    def loss(self, model, x, reduction, labels):
        if labels is not None:
            raise ValueError(f"labels were given, but {type(model).__name__} is not conditional")
        return reconstruction_loss(model, x, reduction=reduction)

    def check(self, model, epochs):
        if hasattr(model, "reparameterize"):
            raise ValueError(f"ReconstructionLoss trains an autoencoder; {type(model).__name__} is a VAE (use NegativeELBO)")


class _Callable(Objective):
    """Any loss callable ``loss(model, x, reduction=...)`` (``labels=`` too when given)."""

    def __init__(self, function: Callable) -> None:
        super().__init__(binarize=False)
        self.function = function

    def loss(self, model, x, reduction, labels):
        if labels is None:
            return self.function(model, x, reduction=reduction)
        return self.function(model, x, reduction=reduction, labels=labels)

    def settings(self):
        name = getattr(self.function, "__qualname__", type(self.function).__qualname__)
        return {"name": f"{getattr(self.function, '__module__', '?')}.{name}"}


def default_objective(model: nn.Module) -> Objective:
    """``NegativeELBO()`` for a model with ``reparameterize`` (a VAE), ``ReconstructionLoss()``
    otherwise: what ``fit`` trains on when given no objective."""
    return NegativeELBO() if hasattr(model, "reparameterize") else ReconstructionLoss()


def as_objective(objective, model: nn.Module) -> Objective:
    """``objective`` as an ``Objective``: None is the model's default, a callable is wrapped."""
    if objective is None:
        return default_objective(model)
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, type) and issubclass(objective, Objective):
        raise TypeError(f"objective must be an objective, not its class: write objective={objective.__name__}()")
    if callable(objective):
        return _Callable(objective)
    raise TypeError(f"objective must be an Objective (e.g. vaelib.BetaObjective(beta=4)) or a loss callable, got {objective!r}")


def describe_settings(settings: dict) -> str:
    """Objective settings as messages show them: ``BetaObjective(beta=4.0, ...)``
    (``with(...)`` for a record without a name, from before ``fit`` took one objective)."""
    settings = dict(settings)
    name = settings.pop("name", "with")
    return f"{name}({', '.join(f'{key}={value!r}' for key, value in settings.items())})"


def same_settings(saved: dict, current: dict) -> bool:
    """Whether a checkpoint's objective settings are ``current``'s. A checkpoint from
    before ``fit`` took one objective recorded only β, warm-up epochs and free bits: those
    are compared (1, 0, 0 for an objective without them)."""
    if "name" in saved:
        return saved == current
    defaults = {"beta": 1.0, "warmup_epochs": 0, "free_bits": 0.0}
    return all(float(saved.get(key, value)) == float(current.get(key, value)) for key, value in defaults.items())
