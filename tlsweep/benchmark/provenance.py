"""Provenance: what produced a result, recorded with it so that it can be checked and rerun.

Every run records, in its ``metrics.json`` (and so in every row of ``benchmark.csv``) and in its
MLflow run: the tlsweep version and git commit (with a dirty flag), the versions of the packages
that decide its numbers, the device, the hash of its training config, a digest of the cohort
(table and images) and of each split role (its ordered subject ids), and the command that reruns
it. The report shows them and warns when the rows it combines differ; ``tlsweep rerun`` compares
a rerun's against them.

Nothing here imports torch at module level (``plan`` and the report read the names).
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import json
import platform
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: The packages whose versions every result records.
PACKAGES = ("torch", "monai", "optuna", "mlflow", "numpy")
# the keys that must agree for two results to be compared as if from one experiment
CODE_KEYS = ("tlsweep_version", "git_commit", "git_dirty", "results_version", "cohort_format")
DIGEST_LENGTH = 16  # hex digits: enough to tell data sets apart, short enough to read

#: Bumped when a change may alter what a run computes (every committed report then is stale and
#: must be regenerated). ``tests/benchmark/test_reports.py`` fails when the code that computes
#: results (:func:`results_code_digest`) changes and :data:`RESULTS_CODE` was not updated, so
#: that decision is made at the commit that changes the code, never skipped.
RESULTS_VERSION = 2
#: results_code_digest() when RESULTS_VERSION was last decided
RESULTS_CODE = "e7af3e9b0725c8a9bf313b62"
#: The packages whose code (with ``tlsweep.run``) computes results.
RESULTS_PACKAGES = ("tlsweep.data", "tlsweep.models", "tlsweep.methods", "tlsweep.train")
FOOTER_MARK = "tlsweep-provenance"
OUTPUTS = (":!reports", ":!docs")  # pathspecs a dirty check ignores


def digest(parts: Sequence[bytes | str]) -> str:
    """A short sha256 of ``parts`` (each part length-prefixed, so boundaries count)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:DIGEST_LENGTH]


def split_digests(roles: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """``{role: digest of its ordered subject ids}`` (an empty role has the digest of ``[]``)."""
    return {role: digest(list(ids)) for role, ids in roles.items()}


def cohort_digest(table: Any, images: np.ndarray, images_sha256: str | None = None) -> str:
    """A digest of a cohort: its participants table and its images.

    Args:
        table: the participants table (a DataFrame; its CSV text is hashed, index included).
        images: the image array, hashed in chunks unless ``images_sha256`` is given.
        images_sha256: the verified cache's recorded sha256 of the array file, if any (hashing a
            large memory-mapped cohort in every trial would cost seconds).
    """
    if images_sha256 is None:
        h = hashlib.sha256()
        for start in range(0, len(images), 64):
            h.update(np.ascontiguousarray(images[start : start + 64]).tobytes())
        images_sha256 = h.hexdigest()
    return digest([table.to_csv(), str(tuple(images.shape)), images_sha256])


@functools.lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """tlsweep's version and, when it runs from a git checkout, the commit and a dirty flag."""
    import tlsweep

    root = Path(tlsweep.__file__).resolve().parents[1]
    # only tlsweep's own checkout: an installed copy may sit inside someone else's repository
    top = _git(root, "rev-parse", "--show-toplevel")
    commit = _git(root, "rev-parse", "HEAD") if top and Path(top).resolve() == root else None
    dirty = None
    if commit is not None:
        # the code only: regenerated reports and docs do not make a checkout dirty
        status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ".", *OUTPUTS)
        dirty = bool(status)
    from tlsweep.data.synthetic import FORMAT_VERSION

    return {
        "tlsweep_version": tlsweep.__version__,
        "git_commit": commit,
        "git_dirty": dirty,
        "results_version": RESULTS_VERSION,
        "cohort_format": FORMAT_VERSION,
    }


def results_code_digest() -> str:
    """A digest of the code that computes results: ``tlsweep.run`` and every module of
    :data:`RESULTS_PACKAGES` with what they import (normalised: docstrings, comments and type
    hints do not count; see :mod:`tlsweep.methods.code_digest`)."""
    import pkgutil

    from tlsweep.methods.code_digest import code_digest

    roots = {"tlsweep.run"}
    for package in RESULTS_PACKAGES:
        module = importlib.import_module(package)
        roots |= {m.name for m in pkgutil.walk_packages(module.__path__, f"{package}.")}
    return code_digest(tuple(sorted(roots)))


def report_footer(
    commands: Sequence[str], cohort: str | None = None, code: Mapping[str, Any] | None = None
) -> str:
    """A committed report's provenance: a readable line and a machine-readable comment.

    Args:
        commands: the commands that produced the report's numbers.
        cohort: the cohort digest, when one cohort underlies the report.
        code: the :func:`code_version` the numbers were computed with (default: this process's;
            a report of recorded rows passes theirs).
    """
    import datetime

    record = {
        **(dict(code) if code is not None else code_version()),
        "cohort_digest": cohort,
        "machine": device_name("cpu"),
        "date": datetime.date.today().isoformat(),
        "commands": list(commands),
    }
    commit = (record["git_commit"] or "no git checkout")[:10]
    dirty = " + uncommitted changes" if record["git_dirty"] else ""
    readable = (
        f"_Provenance: tlsweep {record['tlsweep_version']} at {commit}{dirty}, results version "
        f"{RESULTS_VERSION}, cohort format {record['cohort_format']}"
        + (f" (digest {cohort})" if cohort else "")
        + f", {record['machine']}, {record['date']}; "
        + "; ".join(f"`{c}`" for c in commands)
        + "._"
    )
    return f"\n{readable}\n\n<!-- {FOOTER_MARK} {json.dumps(record)} -->\n"


def staleness(text: str) -> str | None:
    """Why a committed report no longer describes what this code computes, or None if it does."""
    from tlsweep.data.synthetic import FORMAT_VERSION

    record = read_footer(text)
    if record is None:
        return "it records no provenance (a claim, not a result)"
    if record.get("results_version") != RESULTS_VERSION:
        return f"results version {record.get('results_version')}, the code's is {RESULTS_VERSION}"
    if record.get("cohort_format") != FORMAT_VERSION:
        return f"cohort format {record.get('cohort_format')}, the code's is {FORMAT_VERSION}"
    return None


def read_footer(text: str) -> dict[str, Any] | None:
    """The record of :func:`report_footer` in a report's text, or None when it has none."""
    start = text.rfind(f"<!-- {FOOTER_MARK} ")
    if start < 0:
        return None
    body = text[start + len(FOOTER_MARK) + 6 : text.index("-->", start)]
    return json.loads(body)


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str | None]:
    """``python`` and the versions of :data:`PACKAGES` (None when one is not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_name(device: str) -> str:
    """What computed: ``"cpu: AMD EPYC 7B13 (2 CPUs)"`` or ``"cuda: NVIDIA H100 (x4)"``."""
    import os

    if device.startswith("cuda"):
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)} (x{torch.cuda.device_count()})"
    return f"cpu: {cpu_model()} ({len(os.sched_getaffinity(0))} CPUs)"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def command_line(overrides: Sequence[str], program: str = "tlsweep") -> str:
    """The shell command that runs ``program`` with ``overrides`` (each quoted as needed)."""
    return " ".join([program, *(shlex.quote(o) for o in overrides)])


def run_provenance(
    *,
    config_hash: str,
    cohort: str,
    splits: Mapping[str, str],
    device: str,
    command: str,
) -> dict[str, Any]:
    """The provenance record of one run (see the module doc); flat, JSON-ready."""
    return {
        **code_version(),
        **{f"version_{k}": v for k, v in package_versions().items()},
        "device": device_name(device),
        "config_hash": config_hash,
        "cohort_digest": cohort,
        **{f"split_{role}": value for role, value in splits.items()},
        "command": command,
    }


def differing(records: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> dict[str, set[Any]]:
    """The keys among ``keys`` whose values differ between ``records``, with the values seen."""
    seen = {k: {r.get(k) for r in records} for k in keys}
    return {k: v for k, v in seen.items() if len(v) > 1}


def _git(root: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip()
