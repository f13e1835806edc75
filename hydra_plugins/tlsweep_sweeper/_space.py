"""From Hydra sweep overrides to Optuna distributions, and from sampled values back to overrides.

Meanings follow Hydra's grammar, not hydra-optuna-sweeper's: ``range(a, b[, step])`` is the
values Hydra's basic sweeper would run (``b`` excluded), ``interval(a, b)`` includes both ends,
``int(interval(...))`` is an integer interval, ``tag(log, ...)`` samples on a log scale, and
``choice(...)``, a plain ``a,b,c`` list or any ``shuffle(...)`` is categorical (in the written
order: Optuna checks a resumed study's choices by order). Non-sweep values in ``params`` are
passed to every trial unchanged. A parameter is named by its override key, ``+`` included, so
``best_params`` and ``trials.csv`` read as overrides (as with hydra-optuna-sweeper). For a
grid, discrete parameters contribute every value and a continuous interval ``grid_points``
values, both ends included.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    Quote,
    QuotedString,
    RangeSweep,
)
from hydra.errors import CompactHydraException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

_PARSER = OverridesParser.create()
_KNOWN_TAGS = {"log"}


class SearchSpaceError(CompactHydraException):
    """A sweep override that cannot become an Optuna distribution."""


@dataclass
class SearchSpace:
    """The swept parameters of a study and the overrides every trial shares.

    Attributes:
        distributions: Optuna parameter name (the override key, with any ``+``/``++``
            prefix) -> distribution, in override order.
        keys: Optuna parameter name -> the override key (the same string; kept for callers).
        fixed: ``key=value`` overrides passed unchanged to every trial.
    """

    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def overrides(self, values: Mapping[str, Any]) -> list[str]:
        """Return the fixed overrides followed by one ``key=value`` per sampled value."""
        swept = [f"{self.keys.get(k, k)}={format_value(v)}" for k, v in values.items()]
        return [*self.fixed, *swept]

    def grid(self, grid_points: int) -> list[dict[str, Any]]:
        """Every point of the grid, in a deterministic order."""
        axes = {k: grid_values(d, grid_points) for k, d in self.distributions.items()}
        return [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]


def build_space(*sources: Iterable[str]) -> SearchSpace:
    """Merge override sources, later ones replacing earlier ones key by key.

    Args:
        *sources: override strings (``key=value``), lowest priority first.

    Returns:
        The search space.

    Raises:
        SearchSpaceError: an override that is not a valid search dimension.
    """
    merged: dict[str, Override] = {}
    for source in sources:
        for line in source:
            override = _parse(line)
            name = _name(override)
            merged.pop(name, None)  # re-insert so the latest source decides the order too
            merged[name] = override
    space = SearchSpace()
    for override in merged.values():
        if override.is_sweep_override():
            key = override.get_key_element()
            space.distributions[key] = to_distribution(override)
            space.keys[key] = key
        else:
            space.fixed.append(override.input_line or "")
    return space


def to_distribution(override: Override) -> BaseDistribution:
    """The Optuna distribution of one sweep override (see the module docstring)."""
    sweep = override.value()
    key = override.get_key_element()
    tags = set(sweep.tags)
    if tags - _KNOWN_TAGS:
        raise SearchSpaceError(f"{key}: unknown tag(s) {sorted(tags - _KNOWN_TAGS)}; known: log")
    log = "log" in tags
    if isinstance(sweep, ChoiceSweep) or getattr(sweep, "shuffle", False):
        return _categorical(key, _written_order(override), log)
    if isinstance(sweep, RangeSweep):
        return _range(key, list(override.sweep_iterator()), abs(sweep.step), log)
    if isinstance(sweep, IntervalSweep):
        return _interval(key, sweep.start, sweep.end, log)
    raise SearchSpaceError(f"{key}: unsupported sweep {override.input_line!r}")


def grid_values(distribution: BaseDistribution, grid_points: int) -> list[Any]:
    """The values a grid visits along one distribution, ends included."""
    d = distribution
    if isinstance(d, CategoricalDistribution):
        return list(d.choices)
    if isinstance(d, IntDistribution):
        return list(range(d.low, d.high + 1, d.step))
    assert isinstance(d, FloatDistribution)
    if d.step is not None:
        n = int(round((d.high - d.low) / d.step)) + 1
        return [_tidy(d.low + i * d.step) for i in range(n)]
    if grid_points < 2:
        raise SearchSpaceError(f"grid_points={grid_points} but an interval needs at least 2")
    if d.log:
        lo, hi = math.log(d.low), math.log(d.high)
        inner = [math.exp(lo + (hi - lo) * i / (grid_points - 1)) for i in range(grid_points)]
    else:
        inner = [d.low + (d.high - d.low) * i / (grid_points - 1) for i in range(grid_points)]
    return [d.low, *[_tidy(x) for x in inner[1:-1]], d.high]


def format_value(value: Any) -> str:
    """Write a value so that Hydra's override parser reads back the same value and type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    try:
        parsed = _PARSER.parse_override(f"k={text}")
        if not parsed.is_sweep_override() and parsed.value() == text:
            return text
    except Exception:  # not a bare value: quote it
        pass
    return QuotedString(text=text, quote=Quote.single).with_quotes()


def _parse(line: str) -> Override:
    try:
        return _PARSER.parse_override(line)
    except Exception as e:  # Hydra raises several types for a bad override
        raise SearchSpaceError(f"cannot parse search space override {line!r}: {e}") from None


def _written_order(override: Override) -> list[Any]:
    """The values of a choice or range sweep as written, ignoring ``shuffle(...)``."""
    sweep = override.value()
    if getattr(sweep, "shuffle", False):
        override = copy.copy(override)
        override._value = dataclasses.replace(sweep, shuffle=False)
    return list(override.sweep_iterator())


def _name(override: Override) -> str:
    key = override.key_or_group
    return f"{key}@{override.package}" if override.package else key


def _categorical(key: str, values: list[Any], log: bool) -> CategoricalDistribution:
    if log:
        raise SearchSpaceError(f"{key}: tag(log, ...) needs range() or interval(), not a choice")
    for v in values:
        if not (v is None or isinstance(v, str | int | float | bool)):
            raise SearchSpaceError(f"{key}: choice value {v!r} is not a str, number or bool")
    if len(set(map(repr, values))) != len(values):
        raise SearchSpaceError(f"{key}: choice values {values} repeat")
    return CategoricalDistribution(values)


def _range(key: str, values: list[Any], step: float, log: bool) -> BaseDistribution:
    if not values:
        raise SearchSpaceError(f"{key}: the range is empty (Hydra's range() excludes its end)")
    lo, hi = min(values), max(values)
    if all(isinstance(v, int) for v in values):
        if log and step != 1:
            raise SearchSpaceError(f"{key}: tag(log, range(...)) needs step 1, got {step}")
        return IntDistribution(int(lo), int(hi), log=log, step=int(step))
    if log:
        raise SearchSpaceError(f"{key}: tag(log, ...) of a float range(); use interval()")
    return FloatDistribution(float(lo), float(hi), step=float(step))


def _interval(key: str, start: Any, end: Any, log: bool) -> BaseDistribution:
    if start >= end:
        raise SearchSpaceError(f"{key}: interval({start}, {end}) needs start < end")
    if log and start <= 0:
        raise SearchSpaceError(f"{key}: tag(log, interval({start}, {end})) needs start > 0")
    if isinstance(start, int) and isinstance(end, int):
        return IntDistribution(start, end, log=log)
    return FloatDistribution(float(start), float(end), log=log)


def _tidy(x: float) -> float:
    """Drop float noise (0.30000000000000004) so grid points print and re-parse cleanly."""
    return float(f"{x:.12g}")


def param_lines(params: Mapping[str, Any] | None) -> list[str]:
    """A ``{key: value}`` search space (``hydra.sweeper.params``) as override lines."""
    if not params:
        return []
    return [f"{k}={v if isinstance(v, str) else format_value(v)}" for k, v in params.items()]
