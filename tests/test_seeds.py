"""Spread and clearly_below: the arithmetic of seeds per arm."""

import math
import statistics

import pytest
import torch

from vaelib import Spread, clearly_below


def test_spread_matches_the_statistics_module():
    values = [101.3, 102.9, 100.4, 103.7]
    spread = Spread(values)
    assert spread.mean == pytest.approx(statistics.mean(values))
    assert spread.sd == pytest.approx(statistics.stdev(values))
    assert spread.se == pytest.approx(statistics.stdev(values) / 2)
    assert format(spread, ".1f") == f"{statistics.mean(values):.1f} ± {statistics.stdev(values) / 2:.1f}"
    assert spread.text(".2f", "sd") == f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def test_spread_takes_tensors():
    assert Spread(torch.tensor([1.0, 3.0])).mean == 2.0


def test_one_seed_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        Spread([1.0], "test loss")


def test_non_finite_values_are_refused():
    with pytest.raises(ValueError, match="finite"):
        Spread([1.0, math.nan])


def test_unknown_spread_is_refused():
    with pytest.raises(ValueError, match="'se' or 'sd'"):
        Spread([1.0, 2.0]).text(spread="iqr")


def test_clearly_below_needs_two_standard_errors():
    low = Spread([10.0, 10.2, 9.8])  # se 0.115
    assert clearly_below(low, Spread([11.0, 11.2, 10.8]))
    assert not clearly_below(low, Spread([10.2, 10.4, 10.0]))  # 0.2 apart, 1.2 se
    assert not clearly_below(Spread([11.0, 11.2, 10.8]), low)


def test_paired_uses_the_differences_and_every_seed():
    low, high = Spread([10.0, 20.0, 30.0]), Spread([10.5, 20.4, 30.6])
    assert not clearly_below(low, high)  # unpaired: the seeds' spread swamps 0.5
    assert clearly_below(low, high, paired=True)
    assert not clearly_below(low, Spread([10.5, 19.9, 30.6]), paired=True)  # one seed reverses
    with pytest.raises(ValueError, match="as many seeds"):
        clearly_below(low, Spread([1.0, 2.0]), paired=True)
