"""``custom_search_space``: a user's function that extends each trial after it is sampled.

As in hydra-optuna-sweeper, ``fn(cfg, trial)`` runs once per trial after the swept params are
suggested; it may suggest more params (``trial.suggest_float("z", ...)``, e.g. bounded by
``trial.params["x"]``), and it sees the fixed params (``key=value`` overrides from
``hydra.sweeper.params`` and the command line) in ``trial.user_attrs``, keyed like the
override (``+`` included), values as written. tlsweep also lets it return a dict of extra
overrides. It may not set a fixed param, by suggesting it or returning it ("Overlapping fixed
parameters" upstream): the user's value would be silently replaced. Nor may it return a swept
param, whose recorded value would then differ from what the trial ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hydra.utils import get_method
from optuna.trial import Trial, TrialState

from hydra_plugins.tlsweep_sweeper._settings import SweeperConfigError
from hydra_plugins.tlsweep_sweeper._space import _PARSER, SearchSpace, format_value

CustomSpace = Callable[[Any, Trial], "dict[str, Any] | None"]


def custom_overrides(
    fn: str | CustomSpace | None, config: Any, trial: Trial, space: SearchSpace
) -> list[str]:
    """Run the user's function on ``trial``; return its extra overrides.

    Args:
        fn: ``"module.function"`` (``hydra.sweeper.custom_search_space``), the function, or
            None for no custom space.
        config: the composed config passed to ``fn``.
        trial: the asked trial, its swept params already suggested.
        space: the study's search space (for the fixed and swept params).

    Returns:
        ``key=value`` overrides for the dict ``fn`` returned (none when it returned None).

    Raises:
        SweeperConfigError: ``fn`` sets a fixed param, or returns a swept one; the trial is
            told FAIL first so the study does not keep it RUNNING.
    """
    if not fn:
        return []
    func = get_method(fn) if isinstance(fn, str) else fn
    fixed = fixed_params(space)
    for key, value in fixed.items():
        trial.set_user_attr(key, value)
    before = set(trial.params)
    extra = func(config, trial) or {}
    bare_fixed = {_bare(k): k for k in fixed}
    set_by_fn = (set(trial.params) - before) | set(extra)
    overlap = sorted(bare_fixed[_bare(k)] for k in set_by_fn if _bare(k) in bare_fixed)
    swept = sorted(k for k in extra if _bare(k) in {_bare(s) for s in space.distributions})
    if overlap or swept:
        trial.study.tell(trial, state=TrialState.FAIL)
        raise SweeperConfigError(_message(_name(fn), overlap, swept, fixed))
    return [f"{k}={format_value(v)}" for k, v in extra.items()]


def fixed_params(space: SearchSpace) -> dict[str, str]:
    """The fixed ``key=value`` overrides of ``space`` as key (``+`` kept) -> value as written."""
    parsed = (_PARSER.parse_override(line) for line in space.fixed)
    return {o.get_key_element(): o.get_value_element_as_str() for o in parsed}


def _bare(key: str) -> str:
    return key.lstrip("+~")


def _name(fn: str | CustomSpace) -> str:
    return fn if isinstance(fn, str) else getattr(fn, "__qualname__", repr(fn))


def _message(name: str, overlap: list[str], swept: list[str], fixed: dict[str, str]) -> str:
    parts = []
    if overlap:
        given = ", ".join(f"{k}={fixed[k]}" for k in overlap)
        parts.append(
            f"Overlapping fixed parameters: custom_search_space={name} sets {given}, which the "
            "command line or hydra.sweeper.params fixed; drop one of the two"
        )
    if swept:
        parts.append(
            f"custom_search_space={name} returns the swept param(s) {', '.join(swept)}; "
            "suggest a new param instead"
        )
    return "; ".join(parts)
