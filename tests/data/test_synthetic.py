"""The synthetic cohort: layout, determinism, idempotence and the direction of its effects."""

from __future__ import annotations

import csv
import json
import threading
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tlsweep.data.synthetic_writer import generate_cohort

RES = 8.0


def image(root: Path, pid: str) -> nib.Nifti1Image:
    return nib.load(root / pid / "anat" / f"{pid}_T1w.nii.gz")


def rows(root: Path) -> list[dict]:
    with open(root / "participants.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "small"
    return generate_cohort(
        root, n_subjects=12, seed=3, resolution_mm=RES, workers=1, progress=False
    )


@pytest.fixture(scope="module")
def effects(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], list[np.ndarray]]:
    """80 subjects read back from disk: enough to see sex and age effects at 8 mm."""
    root = tmp_path_factory.mktemp("synthetic") / "effects"
    generate_cohort(root, n_subjects=80, seed=0, resolution_mm=RES, workers=1, progress=False)
    table = rows(root)
    return table, [image(root, r["participant_id"]).get_fdata() for r in table]


def test_layout_table_and_images(small: Path) -> None:
    with open(small / "participants.tsv") as f:
        assert f.readline().rstrip("\n").split("\t") == ["participant_id", "age", "sex", "site"]
    table = rows(small)
    assert [r["participant_id"] for r in table] == [f"sub-{i:04d}" for i in range(1, 13)]
    ages = [float(r["age"]) for r in table]
    assert all(20 <= a <= 80 and round(a, 1) == a for a in ages)
    assert {r["sex"] for r in table} <= {"M", "F"} and {r["site"] for r in table} <= {
        "site-A",
        "site-B",
        "site-C",
    }
    img = image(small, "sub-0001")
    assert img.header.get_zooms() == (RES, RES, RES)
    assert nib.aff2axcodes(img.affine) == ("R", "A", "S")
    assert img.shape == (25, 30, 24)
    data = img.get_fdata()
    assert np.isfinite(data).all() and data.min() >= 0 and 0.2 < (data > 0).mean() < 0.4


def test_deterministic_whatever_the_workers(small: Path, tmp_path: Path) -> None:
    other = generate_cohort(
        tmp_path / "w2", n_subjects=12, seed=3, resolution_mm=RES, workers=2, progress=False
    )
    files = sorted(p.relative_to(small) for p in small.rglob("*.gz"))
    assert len(files) == 12
    for rel in [*files, Path("participants.tsv")]:
        assert (small / rel).read_bytes() == (other / rel).read_bytes(), rel


def test_smaller_cohort_is_a_prefix_and_seed_matters(small: Path, tmp_path: Path) -> None:
    prefix = generate_cohort(
        tmp_path / "p", n_subjects=5, seed=3, resolution_mm=RES, workers=1, progress=False
    )
    reseeded = generate_cohort(
        tmp_path / "s", n_subjects=5, seed=4, resolution_mm=RES, workers=1, progress=False
    )
    rel = Path("sub-0005/anat/sub-0005_T1w.nii.gz")
    assert (prefix / rel).read_bytes() == (small / rel).read_bytes()
    assert (reseeded / rel).read_bytes() != (small / rel).read_bytes()


def test_idempotent_and_refuses_other_parameters(small: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in small.rglob("*") if p.is_file()}
    generate_cohort(small, n_subjects=12, seed=3, resolution_mm=RES, workers=1, progress=False)
    assert {p: p.stat().st_mtime_ns for p in small.rglob("*") if p.is_file()} == before
    with pytest.raises(ValueError, match=r"seed=3 \(asked 4\)"):
        generate_cohort(small, n_subjects=12, seed=4, resolution_mm=RES, progress=False)
    with pytest.raises(ValueError, match="n_sites"):
        generate_cohort(small, n_subjects=12, seed=3, resolution_mm=RES, n_sites=2)
    with pytest.raises(ValueError, match=r"relatedness=0.0 \(asked 0.5\)"):
        generate_cohort(small, n_subjects=12, seed=3, resolution_mm=RES, relatedness=0.5)


@pytest.mark.parametrize("damage", ["truncate", "delete", "old_format"])
def test_a_damaged_or_outdated_cohort_is_generated_again(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    def make() -> Path:
        return generate_cohort(
            tmp_path / "c", n_subjects=3, seed=2, resolution_mm=RES, workers=1, progress=False
        )

    root = make()
    files = {p.relative_to(root): p.read_bytes() for p in root.rglob("*.nii.gz")}
    victim = root / sorted(files)[1]
    if damage == "truncate":
        victim.write_bytes(victim.read_bytes()[:100])
    elif damage == "delete":
        victim.unlink()
    else:
        meta = json.loads((root / "cohort.json").read_text())
        (root / "cohort.json").write_text(json.dumps({**meta, "format_version": 1}))
    make()
    assert "generating it again" in caplog.text
    assert {p.relative_to(root): p.read_bytes() for p in root.rglob("*.nii.gz")} == files


def test_bad_values_and_foreign_folders_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_subjects=0"):
        generate_cohort(tmp_path / "c", n_subjects=0, seed=0)
    with pytest.raises(ValueError, match="relatedness=1.5"):
        generate_cohort(tmp_path / "c", n_subjects=2, seed=0, relatedness=1.5)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a cohort")
    with pytest.raises(FileExistsError, match="cohort.json"):
        generate_cohort(tmp_path / "mine", n_subjects=2, seed=0, resolution_mm=RES)


def test_concurrent_callers_share_one_cohort(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def make() -> None:
        try:
            generate_cohort(
                tmp_path / "c", n_subjects=4, seed=1, resolution_mm=RES, workers=1, progress=False
            )
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors
    assert len(list((tmp_path / "c").rglob("*.gz"))) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "c.lock"]  # no temp dirs left


@pytest.mark.slow  # starts processes: the slow tier
def test_a_script_without_a_main_guard_fails_fast_instead_of_hanging(tmp_path: Path) -> None:
    """Spawned workers re-import an unguarded script, which asks for the same cohort again.
    Without care that worker waits on its parent's lock and the parent on the worker: forever.
    Here it must end, non-zero, saying what to do, and leave no cohort behind."""
    import subprocess
    import sys

    script = tmp_path / "script.py"
    script.write_text(
        "import sys\n"
        "from tlsweep.data.synthetic_writer import generate_cohort\n"
        "generate_cohort(sys.argv[1], n_subjects=4, seed=0, resolution_mm=8.0, workers=2,"
        " progress=False)\n"
    )
    out = tmp_path / "cohort"
    result = subprocess.run(
        [sys.executable, str(script), str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert 'if __name__ == "__main__":' in last and "workers=1" in last, last
    assert not out.exists()
    assert not list(tmp_path.glob(".cohort.tmp-*"))


def test_males_have_larger_intracranial_volume(effects: tuple) -> None:
    table, images = effects
    icv = np.array([(x > 0).sum() * RES**3 / 1000 for x in images])
    male = np.array([r["sex"] == "M" for r in table])
    ratio = icv[male].mean() / icv[~male].mean()
    assert 1.06 < ratio < 1.20, ratio  # built in: 1.12; within-sex SD 7 %


def test_older_subjects_have_more_csf(effects: tuple) -> None:
    table, images = effects
    dark = np.array([(x[x > 0] < 0.6 * np.percentile(x[x > 0], 90)).mean() for x in images])
    site = np.array([r["site"] for r in table])
    for k in set(site):  # sites differ in CSF contrast: compare subjects within a site
        dark[site == k] -= dark[site == k].mean()
    r = np.corrcoef([float(r["age"]) for r in table], dark)[0, 1]
    assert r > 0.5, r


def test_the_planned_table_is_the_generated_one(tmp_path: Path) -> None:
    """``tlsweep plan`` splits the table :meth:`SyntheticBrain.planned_table` draws before the
    cohort exists; the first trial splits the one read from disk: they must be the same."""
    from pandas.testing import assert_frame_equal

    from tlsweep.data.nifti import read_participants
    from tlsweep.data.synthetic_brain import SyntheticBrain

    dataset = SyntheticBrain(n_subjects=12, seed=3, resolution_mm=RES, cache_dir=str(tmp_path))
    planned = dataset.planned_table()
    assert not dataset.root.exists()  # drawn without generating anything
    generate_cohort(dataset.root, workers=1, progress=False, **dataset.generator_args)
    on_disk = read_participants(dataset.root / "participants.tsv", "participant_id")
    assert_frame_equal(planned, on_disk, check_index_type=False)


def test_a_planted_ageing_group_changes_only_its_members(small: Path, tmp_path: Path) -> None:
    """Off by default and drawn from a stream of its own: every control is the subject of the
    cohort without the group, voxel for voxel; each member's brain is older, not another one."""
    from tlsweep.data.synthetic import ACCELERATED, CONTROL, Ageing

    planted = generate_cohort(
        tmp_path / "aged", n_subjects=12, seed=3, resolution_mm=RES, workers=1, progress=False,
        ageing=Ageing(fraction=0.5, years=30.0),
    )  # fmt: skip
    base, aged = rows(small), rows(planted)
    assert "diagnosis" not in base[0] and {r["diagnosis"] for r in aged} == {ACCELERATED, CONTROL}
    for plain, row in zip(base, aged, strict=True):
        assert {k: row[k] for k in plain} == plain  # same age, sex, site
        same = np.array_equal(image(small, row["participant_id"]).get_fdata(),
                              image(planted, row["participant_id"]).get_fdata())  # fmt: skip
        assert same == (row["diagnosis"] == CONTROL), row
