"""Overrides -> Optuna distributions, grid values and override formatting, table-driven."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from optuna.distributions import CategoricalDistribution as Cat
from optuna.distributions import FloatDistribution as Float
from optuna.distributions import IntDistribution as Int

from hydra_plugins.tlsweep_sweeper._space import (
    SearchSpaceError,
    build_space,
    format_value,
    grid_values,
)

CASES = [
    ("x=choice(a,b,c)", Cat(["a", "b", "c"])),
    ("x=a,b", Cat(["a", "b"])),
    ("x=choice(1,'2',true)", Cat([1, "2", True])),
    # Hydra's range: the end is excluded, the step is kept
    ("x=range(0,4)", Int(0, 3)),
    ("x=range(0,10,3)", Int(0, 9, step=3)),
    ("x=range(0,10,4)", Int(0, 8, step=4)),
    ("x=range(10,0,-2)", Int(2, 10, step=2)),
    ("x=range(0,1,0.25)", Float(0.0, 0.75, step=0.25)),
    ("x=tag(log,range(1,9))", Int(1, 8, log=True)),
    # interval: both ends included
    ("x=interval(0,1)", Float(0.0, 1.0)),
    ("x=interval(1,5)", Float(1.0, 5.0)),
    ("x=int(interval(1,10))", Int(1, 10)),
    ("x=tag(log,interval(1e-4,1e-2))", Float(1e-4, 1e-2, log=True)),
    ("x=tag(log,int(interval(1,64)))", Int(1, 64, log=True)),
    # shuffle: categorical (as hydra-optuna-sweeper), in the written order whatever the shuffle
    ("x=shuffle(range(0,3))", Cat([0, 1, 2])),
    ("x=shuffle(c,a,b)", Cat(["c", "a", "b"])),
]


@pytest.mark.parametrize(("override", "expected"), CASES)
def test_override_to_distribution(override: str, expected: object) -> None:
    assert build_space([override]).distributions == {"x": expected}


@pytest.mark.parametrize(
    "override",
    [
        "x=range(3,3)",  # empty
        "x=interval(2,1)",
        "x=tag(log,interval(0,1))",
        "x=tag(log,choice(1,2))",
        "x=tag(log,range(0,10,2))",
        "x=tag(fancy,interval(0,1))",
        "x=choice(1,1)",
    ],
)
def test_bad_override_is_rejected_with_its_key(override: str) -> None:
    with pytest.raises(SearchSpaceError, match="x"):
        build_space([override])


def test_later_sources_replace_earlier_ones_and_fixed_values_pass_through() -> None:
    space = build_space(
        ["x=interval(0,1)", "y=choice(1,2)"],  # a method's defaults
        ["y=range(5,7)", "z=3"],  # hydra.sweeper.params
        ["x=0.5", "+w=interval(0,1)"],  # the command line
    )
    # a "+" override's param keeps its "+" (best_params then reads as an override)
    assert space.distributions == {"y": Int(5, 6), "+w": Float(0.0, 1.0)}
    assert space.fixed == ["z=3", "x=0.5"]
    assert space.overrides({"y": 6, "+w": 0.25}) == ["z=3", "x=0.5", "y=6", "+w=0.25"]


@pytest.mark.parametrize(
    ("distribution", "points", "expected"),
    [
        (Float(0.0, 1.0), 3, [0.0, 0.5, 1.0]),
        (Float(1e-4, 1e-2, log=True), 3, [1e-4, 1e-3, 1e-2]),
        (Float(0.0, 0.75, step=0.25), 3, [0.0, 0.25, 0.5, 0.75]),
        (Int(0, 9, step=3), 3, [0, 3, 6, 9]),
        (Cat(["a", True]), 3, ["a", True]),
    ],
)
def test_grid_values_include_both_ends(distribution: object, points: int, expected: list) -> None:
    assert grid_values(distribution, points) == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "2",
        "true",
        "null",
        "a b",
        "it's",
        "/tmp/x y/z.log",
        "sqlite:///a.db",
        3,
        0.1,
        1e-05,
        True,
        None,
        "${x}",
    ],
)
def test_format_value_round_trips_through_hydra(value: object) -> None:
    parsed = OverridesParser.create().parse_override(f"k={format_value(value)}").value()
    assert parsed == value and type(parsed) is type(value)
