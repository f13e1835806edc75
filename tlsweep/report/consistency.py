"""Rows that may be read together: one configuration per cell row, one code version, one cohort.

A benchmark folder can hold the results of several commands (``hpo=tpe`` then ``hpo=untuned``;
``train.epochs=5`` then ``=50``). The report combines their rows only where that is sound:

- cells that share every axis and variant but not their identity (a preset edited between two
  commands) are kept apart: each gets its identity hash added to its variant, with a warning;
- rows whose provenance differs in code version, or in cohort within one dataset and variant,
  are reported with a warning naming what differs;
- rows from an older tlsweep that recorded no identity or provenance are reported with a warning,
  never silently merged.
"""

from __future__ import annotations

import json

import pandas as pd

from tlsweep.benchmark.provenance import CODE_KEYS, report_footer

_AXES = ("method", "encoder", "dataset", "sample_size", "seed_cell", "tuning", "stage", "variant")
_SHOWN = 3


def check_rows(frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """Separate configurations that share a row's axes; add a warning for each mixed property.

    Args:
        frame: ``benchmark.csv``'s rows (one per cell x final seed).
        warnings: the report's warnings, appended to.

    Returns:
        ``frame``, with ``variant`` extended where two identities would share a row.
    """
    if frame.empty:
        return frame
    frame = _separate_identities(frame, warnings)
    old = sorted(frame.loc[frame["cell_hash"].isna(), "cell"].unique())
    if old:
        warnings.append(
            f"{len(old)} cell(s) recorded no configuration identity (an older tlsweep): "
            f"{_listed(old)}; they are reported, but cannot be told apart from other "
            "configurations of the same name"
        )
    finals = frame[frame["status"] == "ok"]
    if "git_commit" not in finals or finals["git_commit"].isna().all():
        if not finals.empty:
            warnings.append("the final seeds recorded no provenance (an older tlsweep)")
        return frame
    _warn_mixed(finals, list(CODE_KEYS), "code versions", warnings)
    for (dataset, variant), group in finals.groupby(["dataset", "variant"], dropna=False):
        where = f"dataset {dataset}" + (f" ({variant})" if variant else "")
        _warn_mixed(group, ["cohort_digest"], f"cohorts for {where}", warnings)
    return frame


def _separate_identities(frame: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    axes = [a for a in _AXES if a in frame]
    frame = frame.copy()
    for _, group in frame.groupby(axes, dropna=False, sort=False):
        hashes = group["cell_hash"].dropna().unique()
        if len(hashes) < 2:
            continue
        names = sorted(group["cell"].unique())
        warnings.append(
            f"cells {_listed(names)} share their axes but not their configuration; "
            "shown apart, their identity hash added to the variant"
        )
        for index in group.index:
            suffix = f"[{str(frame.at[index, 'cell_hash'])[:6]}]"
            frame.at[index, "variant"] = f"{frame.at[index, 'variant'] or ''} {suffix}".strip()
    return frame


def _warn_mixed(rows: pd.DataFrame, keys: list[str], what: str, warnings: list[str]) -> None:
    present = [k for k in keys if k in rows]
    if not present:
        return
    combos = rows[present].astype(str).drop_duplicates()
    if len(combos) > 1:
        seen = ["/".join(values) for values in combos.itertuples(index=False)]
        warnings.append(f"the rows combine {len(seen)} {what}: {_listed(seen)}")


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return ", ".join(items[:_SHOWN]) + more


def provenance_summary(spec: dict, frame: pd.DataFrame) -> list[tuple[str, str]]:
    """``(label, value)`` lines for a report's provenance section, from what the rows recorded.

    Args:
        spec: ``benchmark.yaml`` (its ``commands``).
        frame: the rows (their provenance columns, where recorded).
    """
    commands, finals = _commands(spec), _finals(frame)
    lines = [("command", f"`{c}`") for c in commands]
    if finals.empty or "git_commit" not in finals:
        return [*lines, ("provenance", "not recorded (results of an older tlsweep)")]
    code = finals.apply(_code_label, axis=1)
    versions = [c for c in finals if c.startswith("version_")]
    packages = finals[versions].astype(str).drop_duplicates()
    lines += [("code", ", ".join(sorted(set(code))))]
    lines += [
        ("packages", ", ".join(f"{c.removeprefix('version_')} {r[c]}" for c in versions))
        for _, r in packages.iterrows()
    ]
    lines += [("device", d) for d in sorted(finals["device"].dropna().astype(str).unique())]
    cohorts = finals.groupby(["dataset", "variant"], dropna=False)["cohort_digest"].unique()
    for (dataset, variant), digests in cohorts.items():
        where = f"{dataset}" + (f" ({variant})" if variant else "")
        lines.append((f"cohort {where}", ", ".join(map(str, digests))))
    if "split_test" in finals:
        lines.append(("test sets", ", ".join(map(str, finals["split_test"].dropna().unique()))))
    return lines


def _code_label(row: pd.Series) -> str:
    commit = row.get("git_commit")
    if not isinstance(commit, str) or not commit:
        return f"tlsweep {row.get('tlsweep_version')} (no git checkout)"
    dirty = " + uncommitted changes" if str(row.get("git_dirty")).lower() == "true" else ""
    return f"tlsweep {row.get('tlsweep_version')} at {commit[:10]}{dirty}"


def rows_footer(spec: dict, frame: pd.DataFrame) -> str:
    """The machine-readable footer of a report: the commands and the code its rows recorded
    (the first final seed's, when they agree; none when the rows recorded none)."""
    commands, finals = _commands(spec), _finals(frame)
    if finals.empty or any(k not in finals for k in CODE_KEYS):
        return ""  # nothing recorded: the report is a claim (tests/benchmark/test_reports.py)
    code = finals[list(CODE_KEYS)].drop_duplicates()
    if len(code) > 1:
        return ""  # mixed code versions: no single provenance to vouch for (see the warnings)
    digests = finals["cohort_digest"].dropna().unique() if "cohort_digest" in finals else []
    cohort = str(digests[0]) if len(digests) == 1 else None
    recorded = json.loads(code.iloc[[0]].to_json(orient="records"))[0]  # plain JSON types
    return report_footer(commands, cohort, recorded)


def _commands(spec: dict) -> list[str]:
    return spec.get("commands") or [spec.get("command") or "?"]


def _finals(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"] == "ok"] if "status" in frame else frame
