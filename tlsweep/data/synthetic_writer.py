"""Writes the synthetic cohort to disk: parallel workers, a file lock and an atomic rename.

The generative model is in :mod:`tlsweep.data.synthetic`; this module turns it into a BIDS-like
folder (``participants.tsv``, ``sub-XXXX/anat/sub-XXXX_T1w.nii.gz``, ``cohort.json``) that is
written once, never half, and whose images do not depend on the number of workers.
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import os
import pickle
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import nibabel as nib
import numpy as np
from filelock import FileLock

from tlsweep.data.synthetic import (
    AGE_RANGE,
    FORMAT_VERSION,
    SITE_EFFECT,
    Ageing,
    Site,
    Templates,
    load_templates,
    make_site,
    synthesize,
)
from tlsweep.progress import progress_bar
from tlsweep.resources import worker_count

log = logging.getLogger(__name__)

_WORKER: tuple[Templates, list[Site]] | None = None


def _init_worker(tpl: Templates, sites: list[Site]) -> None:
    global _WORKER
    _WORKER = (tpl, sites)


def _init_worker_from(path: str) -> None:
    """Load the templates and sites the parent pickled to ``path``.

    Handing workers a file instead of the arrays keeps each worker's start-up message small
    (MBs of templates otherwise): a worker that dies while starting, e.g. in a script without
    a ``__main__`` guard, then breaks the pool instead of blocking the parent's write forever.
    """
    with open(path, "rb") as f:
        _init_worker(*pickle.load(f))


def _write_subject(job: tuple[int, int, tuple[float, float], float, Ageing | None, str]) -> dict:
    """Generate one subject in a worker and write its NIfTI file; return its table row."""
    index, seed, age_range, relatedness, ageing, out = job
    tpl, sites = _WORKER
    row, image = synthesize(
        index, seed, age_range, tpl, sites, relatedness=relatedness, ageing=ageing
    )
    pid = row["participant_id"]
    path = Path(out) / pid / "anat" / f"{pid}_T1w.nii.gz"
    path.parent.mkdir(parents=True)
    nifti = nib.Nifti1Image(image, tpl.affine)
    nifti.header.set_data_dtype(np.int16)  # scaled int16: a third of float32's gzip time
    nifti.header.set_xyzt_units("mm")
    nifti.set_qform(tpl.affine, code=1)
    nifti.set_sform(tpl.affine, code=1)
    nib.save(nifti, path)
    return row


def _check_params(params: dict) -> None:
    lo, hi = params["age_range"]
    bad = {
        "n_subjects": params["n_subjects"] < 1,
        "n_sites": not 1 <= params["n_sites"] <= 26,
        "resolution_mm": not 0.5 <= params["resolution_mm"] <= 16,
        "age_range": not 0 <= lo < hi,
        "relatedness": not 0 <= params["relatedness"] <= 1,
        "site_effect": not 0 <= params.get("site_effect", SITE_EFFECT) <= 1,
        "accelerated_fraction": not 0 <= params.get("accelerated_fraction", 0) < 1,
        "accelerated_years": not 0 < params.get("accelerated_years", 1) <= 60,
    }
    for key in (k for k, b in bad.items() if b):
        raise ValueError(f"generate_cohort: {key}={params[key]} is out of range")


def _existing(root: Path, params: dict) -> bool:
    """True if ``root`` holds this cohort, complete; raise if it holds another cohort.

    A cohort of an older format, or one whose files are missing or truncated (their sizes are
    recorded in ``cohort.json``), is removed with a warning naming the problem and generated
    again: it is a cache, and a pure function of its parameters.
    """
    if (root / "cohort.json").is_file():
        old = json.loads((root / "cohort.json").read_text())
        files = old.pop("files", None)
        problem = _stale(root, old, params, files)
        if problem is None:
            return True
        log.warning("synthetic cohort %s: %s; generating it again", root, problem)
        shutil.rmtree(root)
        return False
    if root.is_dir() and any(root.iterdir()):
        raise FileExistsError(f"{root} exists, is not empty and holds no cohort.json")
    return False


def _stale(root: Path, old: dict, params: dict, files: dict[str, int] | None) -> str | None:
    """Why the cohort in ``root`` cannot be used as is (None: it can)."""
    if old.get("format_version") != params["format_version"]:
        return f"format {old.get('format_version')}, this tlsweep writes {FORMAT_VERSION}"
    diff = sorted(k for k in params.keys() | old.keys() if old.get(k) != params.get(k))
    if diff:
        got = ", ".join(f"{k}={old.get(k)} (asked {params.get(k)})" for k in diff)
        raise ValueError(f"{root} holds a different synthetic cohort: {got}")
    if files is None:
        return "no file manifest in cohort.json"
    for name, size in files.items():
        try:
            found = (root / name).stat().st_size  # one stat per file: this runs at every load
        except FileNotFoundError:
            return f"{name} is missing"
        if found != size:
            return f"{name} has {found} bytes, {size} were written"
    return None


def _run_jobs(
    jobs: list, tpl: Templates, sites: list[Site], workers: int, progress: bool
) -> list[dict]:
    bar = dict(total=len(jobs), desc="synthetic cohort", unit="subject", enabled=progress)
    if workers <= 1:
        _init_worker(tpl, sites)
        return [_write_subject(job) for job in progress_bar(jobs, **bar)]
    # spawn, not fork: the parent may hold threads (torch, tqdm) that fork would copy mid-lock
    context = multiprocessing.get_context("spawn")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            shared = Path(tmp) / "templates.pkl"
            shared.write_bytes(pickle.dumps((tpl, sites), protocol=pickle.HIGHEST_PROTOCOL))
            init = (_init_worker_from, (str(shared),))
            with ProcessPoolExecutor(workers, context, *init) as pool:
                chunk = max(1, len(jobs) // (4 * workers))
                return list(progress_bar(pool.map(_write_subject, jobs, chunksize=chunk), **bar))
    except BrokenProcessPool as exc:
        raise RuntimeError(
            f"synthetic cohort: a generator process died ({exc}); if this was called from a "
            'script, put its top-level code under `if __name__ == "__main__":` (the workers '
            "are spawned and re-import the script), or pass workers=1"
        ) from exc


def _refuse_while_spawning() -> None:
    """Fail fast inside a spawned worker that is re-importing an unguarded ``__main__``.

    There the script's top-level code would ask for the same cohort again and wait forever on
    the lock its parent holds; raising instead (as multiprocessing does when such a worker
    tries to start processes) lets the parent report it.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise RuntimeError(
            "synthetic cohort requested while a worker process imports the main script; "
            'guard the script with `if __name__ == "__main__":`'
        )


def generate_cohort(
    root: str | Path,
    *,
    n_subjects: int,
    seed: int,
    resolution_mm: float = 4.0,
    n_sites: int = 3,
    age_range: tuple[float, float] = AGE_RANGE,
    relatedness: float = 0.0,
    site_effect: float = SITE_EFFECT,
    ageing: Ageing | None = None,
    workers: int = 0,
    progress: bool = True,
) -> Path:
    """Write the cohort under `root` (idempotent) and return `root`.

    Args:
        root: cohort folder; created atomically (written to a sibling, then renamed).
        n_subjects: number of subjects, ``sub-0001`` onwards.
        seed: the cohort is a pure function of the seed and the other parameters.
        resolution_mm: isotropic voxel size (2 mm; 4 mm for CPU).
        n_sites: acquisition sites, ``site-A`` onwards.
        age_range: uniform age range in years.
        relatedness: in [0, 1]: 0 puts the sex signal in head size only, 1 only in the anatomy
            age acts on (see :mod:`tlsweep.data.synthetic`).
        site_effect: in [0, 1], how far the sites' contrast and bias field differ
            (:func:`tlsweep.data.synthetic.make_site`).
        ageing: a planted accelerated-ageing group (:class:`~tlsweep.data.synthetic.Ageing`);
            None or a zero fraction plants none.
        workers: processes; 0 means this trial's share of the CPUs
            (:func:`tlsweep.resources.worker_count`). Images do not depend on it.
        progress: show a progress bar.

    Returns:
        ``root`` as a Path.

    Raises:
        ValueError: a parameter is out of range, or ``root`` holds a cohort with other parameters.
        FileExistsError: ``root`` is a non-empty folder that is not a cohort.
    """
    root = Path(root).expanduser()
    params = {
        "format_version": FORMAT_VERSION,
        "n_subjects": int(n_subjects),
        "seed": int(seed),
        "resolution_mm": float(resolution_mm),
        "n_sites": int(n_sites),
        "age_range": [float(a) for a in age_range],
        "relatedness": float(relatedness),
    }
    # keys added later are recorded only away from their defaults, so earlier cohorts stay valid
    if float(site_effect) != SITE_EFFECT:
        params["site_effect"] = float(site_effect)
    if ageing is not None and ageing.fraction > 0:
        params["accelerated_fraction"] = float(ageing.fraction)
        params["accelerated_years"] = float(ageing.years)
    _check_params(params)
    _refuse_while_spawning()
    root.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root) + ".lock"):
        if _existing(root, params):
            return root
        for stale in root.parent.glob(f".{root.name}.tmp-*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
        try:
            _fill(tmp, params, workers or worker_count(), progress)
            if root.is_dir():
                root.rmdir()  # empty, checked above
            os.replace(tmp, root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _fill(out: Path, params: dict, workers: int, progress: bool) -> None:
    """Generate every subject into ``out`` and write participants.tsv and cohort.json."""
    n, res = params["n_subjects"], params["resolution_mm"]
    tpl = load_templates(res)
    strength = params.get("site_effect", SITE_EFFECT)
    sites = [make_site(params["seed"], k, strength) for k in range(params["n_sites"])]
    ages, r = tuple(params["age_range"]), params["relatedness"]
    ageing = None
    if "accelerated_fraction" in params:
        ageing = Ageing(params["accelerated_fraction"], params["accelerated_years"])
    jobs = [(i, params["seed"], ages, r, ageing, str(out)) for i in range(n)]
    log.info("generating %d synthetic subjects at %g mm into %s", n, res, out)
    rows = _run_jobs(jobs, tpl, sites, min(workers, n), progress)
    with open(out / "participants.tsv", "w", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        extra = ["diagnosis"] if ageing is not None else []
        writer.writerow(["participant_id", "age", "sex", "site", *extra])
        writer.writerows(
            [r["participant_id"], f"{r['age']:.1f}", r["sex"], r["site"], *(r[k] for k in extra)]
            for r in rows
        )
    files = {
        str(path.relative_to(out)): path.stat().st_size
        for path in sorted(out.rglob("*"))
        if path.is_file()
    }
    (out / "cohort.json").write_text(json.dumps({**params, "files": files}, indent=2) + "\n")
