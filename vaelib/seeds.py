"""One number per seed, and what a comparison between settings may claim from them.

Every comparison in the course trains each arm from several seeds. ``Spread`` holds
one arm's numbers and prints them as mean ± standard error; ``clearly_below`` says
whether one arm's mean lies below another's by more than their spread allows.
Introduced in chapter 5.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

MIN_SEEDS = 2  # a spread needs two numbers
SEPARATION = 2.0  # standard errors between two means before an order is claimed


class Spread:
    """The numbers of one arm, one per seed: mean, standard deviation, standard error.

    ``format(spread, ".1f")`` gives "mean ± standard error" with that format for both;
    ``spread.text(".1f", "sd")`` gives the standard deviation instead. Introduced in
    chapter 5.
    """

    def __init__(self, values: Iterable[float], name: str = "values"):
        values = [float(v.item() if isinstance(v, torch.Tensor) else v) for v in values]
        if len(values) < MIN_SEEDS:
            raise ValueError(
                f"{name}: {len(values)} seed(s) give no spread; train at least {MIN_SEEDS} seeds per arm"
            )
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"{name}: not every value is finite: {values}")
        self.values = values
        self.name = name

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n

    @property
    def sd(self) -> float:
        """The sample standard deviation over seeds (n − 1 in the denominator)."""
        return math.sqrt(sum((v - self.mean) ** 2 for v in self.values) / (self.n - 1))

    @property
    def se(self) -> float:
        """The standard error of the mean, sd / √n."""
        return self.sd / math.sqrt(self.n)

    def text(self, spec: str = ".2f", spread: str = "se") -> str:
        if spread not in ("se", "sd"):
            raise ValueError(f"spread must be 'se' or 'sd', got {spread!r}")
        return f"{self.mean:{spec}} ± {getattr(self, spread):{spec}}"

    def __format__(self, spec: str) -> str:
        return self.text(spec or ".2f")

    def __repr__(self) -> str:
        return f"Spread({self.name}: {self.text('.4g')} (se), n={self.n})"


def clearly_below(low: Spread, high: Spread, paired: bool = False, z: float = SEPARATION) -> bool:
    """Whether ``low``'s mean lies below ``high``'s by more than ``z`` standard errors.

    Unpaired, the standard error of the difference is √(se_low² + se_high²). With
    ``paired`` (the same seeds in both arms, in the same order) it is the standard error
    of the per-seed differences, and every seed must also show the same order.
    ``z=0`` claims the order of the means alone. Introduced in chapter 5.
    """
    if paired:
        if low.n != high.n:
            raise ValueError(f"paired arms need as many seeds each, got {low.n} and {high.n}")
        differences = Spread([h - v for v, h in zip(low.values, high.values)], "differences")
        return differences.mean > z * differences.se and min(differences.values) > 0
    return high.mean - low.mean > z * math.hypot(low.se, high.se)
