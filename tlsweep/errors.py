"""User-facing errors: one line naming the key, the bad value and the valid options.

Everything a user can get wrong (a config value, a data folder, a label column) is rejected where
it enters with a :class:`ConfigError`. The CLI prints its message on one line and exits non-zero;
Hydra's and OmegaConf's own composition errors are translated into the same form by
:func:`explain`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ConfigError(ValueError):
    """A bad value in the configuration or the data it points to."""


def suggest(value: object, options: Iterable[object]) -> str:
    """Return ``"did you mean 'x'? "`` for the closest option, or an empty string."""
    names = [str(o) for o in options]
    same = [n for n in names if n.lower() == str(value).lower()]  # L1 -> l1
    close = same or difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def bad_option(key: str, value: object, options: Iterable[object]) -> ConfigError:
    """Build the error for ``key=value`` where ``value`` is not one of ``options``."""
    options = sorted(str(o) for o in options)
    return ConfigError(
        f"{key}={value} is not a valid option; {suggest(value, options)}"
        f"options: {', '.join(options)}"
    )


def bad_column(key: str, value: str, columns: Iterable[object], where: str) -> ConfigError:
    """Build the error for a column name that ``where`` (a table) does not have."""
    columns = [str(c) for c in columns]
    return ConfigError(
        f"{key}={value}: no such column in {where}; {suggest(value, columns)}"
        f"columns: {', '.join(columns)}"
    )


def explain(exc: BaseException) -> str | None:
    """Translate a known configuration exception into one line, or None for anything else."""
    # Imported here: this module is on the CLI start-up path and must stay light.
    from hydra.errors import (
        CompactHydraException,
        ConfigCompositionException,
        InstantiationException,
        MissingConfigException,
        OverrideParseException,
    )
    from omegaconf.errors import (
        ConfigAttributeError,
        ConfigKeyError,
        OmegaConfBaseException,
        ValidationError,
    )

    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, NotADirectoryError | PermissionError) and exc.filename:
        # e.g. Hydra creating hydra.run.dir under a regular file, before tlsweep's checks run
        return f"cannot create or write {exc.filename}: {exc.strerror}"
    if isinstance(exc, MissingConfigException) and exc.missing_cfg_file:
        group, _, value = exc.missing_cfg_file.rpartition("/")
        if group and exc.options:
            return str(bad_option(group, value, exc.options))
        return f"config '{exc.missing_cfg_file}' not found"
    if isinstance(exc, OverrideParseException):
        detail = [
            line
            for line in exc.message.splitlines()
            if line.strip() and not line.startswith(("Error parsing override", "See http"))
        ]
        return f"cannot parse override '{exc.override}': {' '.join(detail) or 'bad syntax'}"
    cause = exc.__cause__ if isinstance(exc, ConfigCompositionException) else exc
    if isinstance(cause, ConfigKeyError | ConfigAttributeError):
        return _explain_key(cause)
    if isinstance(exc, InstantiationException):
        return _explain_instantiation(exc)
    if isinstance(cause, ValidationError):
        return _explain_validation(cause)
    if isinstance(exc, ConfigCompositionException | OmegaConfBaseException):
        return " ".join(str(exc).split())
    if isinstance(exc, CompactHydraException):  # e.g. the sweeper's failure summary, as written
        return str(exc)
    return None


def unknown_key(full_key: str, options: Iterable[object]) -> str:
    """One line for the config key ``full_key`` that does not exist, and the keys that do.

    Args:
        full_key: the dotted key as written (``train.lrr``).
        options: the keys at its level (``train``'s keys).
    """
    options = sorted(str(o) for o in options)
    key = full_key.rpartition(".")[2]
    hint = f"{suggest(key, options)}keys here: {', '.join(options)}" if options else ""
    return f"{full_key}: no such config key; {hint}".rstrip("; ")


def missing_key(cfg: object, full_key: str) -> str | None:
    """Say, as :func:`unknown_key` does, why the dotted ``full_key`` is not a key of ``cfg``.

    For a key that is only named, not composed (a swept key of a sweep): the same line as a plain
    override of it gets (``train.lrr=0.1``). Keys below a list are not checked.

    Args:
        cfg: a ``DictConfig``.
        full_key: e.g. ``train.lrr``.

    Returns:
        The one-line problem, or None when the key exists.
    """
    from omegaconf import OmegaConf

    node, parts = cfg, full_key.split(".")
    for depth, part in enumerate(parts):
        if OmegaConf.is_list(node):
            return None  # a list index: not a key to check here
        if not OmegaConf.is_dict(node):  # below a plain value
            return unknown_key(".".join(parts[: depth + 1]), [])
        if part not in node.keys():  # noqa: SIM118 - `in` a DictConfig misses a ??? value
            return unknown_key(".".join(parts[: depth + 1]), node.keys())
        node = OmegaConf.select(
            node, part, throw_on_missing=False, throw_on_resolution_failure=False
        )
    return None


def _explain_key(exc: BaseException) -> str:
    """One line for an unknown config key, with the keys that do exist at that level."""
    full_key = getattr(exc, "full_key", None) or getattr(exc, "key", "?")
    parent = getattr(exc, "parent_node", None)
    options: list[str] = []
    if parent is not None and hasattr(parent, "keys"):
        options = list(parent.keys())
    return unknown_key(str(full_key), options)


def _explain_validation(exc: BaseException) -> str:
    """One line for a value of the wrong type, or outside an Enum field's options."""
    import re

    key, value = getattr(exc, "full_key", "?"), getattr(exc, "value", None)
    message = str(getattr(exc, "msg", exc)).splitlines()[0]
    choices = re.search(r"expected one of \[(.*)\]", message)
    if choices:  # an Enum-typed field (schemas.py): same form as every other bad option
        return str(bad_option(key, value, choices.group(1).split(", ")))
    return f"{key}={value!r}: {message}"


def _explain_instantiation(exc: BaseException) -> str:
    """One line for a component whose yaml does not fit its ``_target_``'s arguments."""
    import re

    text = str(exc)
    key = re.search(r"full_key: (\S+)", text)
    target = re.search(r"target '([^']+)'", text)
    where = key.group(1) if key else "config"
    unexpected = re.search(r"unexpected keyword argument '(\w+)'", text)
    if unexpected and target:
        return f"{where}.{unexpected.group(1)}: not a parameter of {target.group(1)}"
    cause = exc.__cause__
    return f"{where}: cannot build {target.group(1) if target else 'it'}: {cause or text}"


def fail(message: str, status: int = 2) -> None:
    """Print ``tlsweep: error: <message>`` on stderr and exit with ``status``."""
    import sys

    print(f"tlsweep: error: {message}", file=sys.stderr)
    sys.exit(status)
