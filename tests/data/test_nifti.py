"""The NIfTI loader on real files: preprocessing, the compact cache, and clear failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import cli_env
from tests.nifti_folder import write_image, write_nifti_folder
from tlsweep.data.nifti import NiftiCohort
from tlsweep.errors import ConfigError


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_nifti_folder(tmp_path / "bids", n=12)


def cohort(folder: Path, tmp_path: Path, **kwargs) -> NiftiCohort:  # noqa: ANN003
    args = dict(
        root=str(folder), spacing=[8.0] * 3, shape=[16, 16, 16], cache_dir=str(tmp_path / "cache")
    )
    return NiftiCohort(**{**args, **kwargs})


def test_loads_table_and_normalised_volumes(folder: Path, tmp_path: Path) -> None:
    data = cohort(folder, tmp_path, shape=[20, 24, 20]).load(progress=False)
    assert list(data.table.columns) == ["age", "sex", "site", "group"]
    assert data.images.shape == (12, 20, 24, 20) and data.images.dtype == np.float16
    brain = data.images[0][data.images[0] != 0].astype(np.float32)
    assert abs(brain.mean()) < 0.1 and abs(brain.std() - 1) < 0.1  # normalised within nonzero


def test_resamples_to_the_configured_spacing(folder: Path, tmp_path: Path) -> None:
    data = cohort(folder, tmp_path, spacing=[4.0] * 3, shape=[40, 48, 40]).load(progress=False)
    support = (np.abs(data.images[0].astype(np.float32)) > 0).any(axis=(1, 2)).sum()
    assert support > 30, "a 20-voxel axis at 8 mm spans about 40 voxels at 4 mm"


def test_second_load_reads_the_cache_not_the_nifti(folder: Path, tmp_path: Path) -> None:
    first = cohort(folder, tmp_path).load(progress=False)
    caches = list((tmp_path / "cache" / "volumes").glob("*/images.npy"))
    assert len(caches) == 1
    for path in folder.glob("sub-*/anat/*.nii.gz"):  # unreadable now, same size and mtime
        stat = path.stat()
        path.write_bytes(b"\0" * stat.st_size)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = cohort(folder, tmp_path).load(progress=False)
    assert isinstance(second.images, np.memmap)
    np.testing.assert_array_equal(first.images, second.images)


def test_csv_table_and_custom_id_column(folder: Path, tmp_path: Path) -> None:
    table = pd.read_csv(folder / "participants.tsv", sep="\t").rename(
        columns={"participant_id": "subject"}
    )
    table.to_csv(folder / "subjects.csv", index=False)
    data = cohort(folder, tmp_path, participants="subjects.csv", id_column="subject").load(
        progress=False
    )
    assert data.table.index.name == "subject" and len(data.table) == 12


def test_unreadable_nifti_is_named(folder: Path, tmp_path: Path) -> None:
    bad = folder / "sub-003" / "anat" / "sub-003_T1w.nii.gz"
    bad.write_bytes(b"not a nifti file")
    with pytest.raises(ConfigError, match=r"cannot load NIfTI file .*sub-003_T1w\.nii\.gz"):
        cohort(folder, tmp_path).load(progress=False)


def test_missing_folder_table_and_id_column(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"dataset.root=.*nope: no such directory"):
        cohort(tmp_path / "nope", tmp_path).load(progress=False)
    with pytest.raises(ConfigError, match=r"dataset.participants=x.tsv: no such file"):
        cohort(folder, tmp_path, participants="x.tsv").load(progress=False)
    with pytest.raises(ConfigError, match=r"dataset.id_column=subj: .*participant_id"):
        cohort(folder, tmp_path, id_column="subj").load(progress=False)


def test_subjects_without_image_are_left_out_and_named(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (folder / "sub-005" / "anat" / "sub-005_T1w.nii.gz").unlink()
    data = cohort(folder, tmp_path).load(progress=False)
    assert "sub-005" not in data.table.index and data.images.shape[0] == 11
    assert "1 of 12 subjects have no image" in caplog.text and "sub-005_T1w.nii.gz" in caplog.text


def test_max_subjects_keeps_the_first_subjects_with_an_image(folder: Path, tmp_path: Path) -> None:
    (folder / "sub-001" / "anat" / "sub-001_T1w.nii.gz").unlink()
    data = cohort(folder, tmp_path, max_subjects=3).load(progress=False)
    assert list(data.table.index) == ["sub-000", "sub-002", "sub-003"]
    assert data.images.shape == (3, 16, 16, 16)


def image_of(folder: Path, pid: str) -> Path:
    return folder / pid / "anat" / f"{pid}_T1w.nii.gz"


def test_a_4d_image_is_rejected_not_cut_to_its_first_volume(folder: Path, tmp_path: Path) -> None:
    write_image(image_of(folder, "sub-004"), np.ones((20, 24, 20, 2)))
    with pytest.raises(ConfigError, match=r"sub-004_T1w\.nii\.gz holds 2 volume\(s\) of shape "):
        cohort(folder, tmp_path).load(progress=False)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_voxels_name_the_file(folder: Path, tmp_path: Path, bad: float) -> None:
    image = np.ones((20, 24, 20))
    image[3, 4, 5] = bad
    write_image(image_of(folder, "sub-007"), image)
    with pytest.raises(ConfigError, match=r"sub-007_T1w\.nii\.gz holds 1 NaN/inf voxels"):
        cohort(folder, tmp_path).load(progress=False)


def test_an_all_zero_image_is_named(folder: Path, tmp_path: Path) -> None:
    write_image(image_of(folder, "sub-002"), np.zeros((20, 24, 20)))
    with pytest.raises(ConfigError, match=r"sub-002_T1w\.nii\.gz is all zeros"):
        cohort(folder, tmp_path).load(progress=False)


def rewrite_table(folder: Path, text: str) -> None:
    (folder / "participants.tsv").write_text(text)


def test_table_errors_name_the_file(folder: Path, tmp_path: Path) -> None:
    cases = {
        "": r"participants.tsv: the file is empty",
        "participant_id\tage\n": r"participants.tsv: the table has a header but no rows",
        "participant_id\tage\nsub-000\t30\nsub-001\t40\nsub-000\t50\n": (
            r"participants.tsv: participant_id values repeat: sub-000$"
        ),
        "participant_id\tage\nsub-000\t30\n\t40\n": r"empty participant_id on line\(s\) \[3\]",
    }
    for text, message in cases.items():
        rewrite_table(folder, text)
        with pytest.raises(ConfigError, match=r"^dataset.participants=.*" + message):
            cohort(folder, tmp_path).load(progress=False)


def test_numeric_looking_ids_stay_text(tmp_path: Path) -> None:
    folder = tmp_path / "numeric"
    for pid in ("001", "002", "010"):
        write_image(folder / f"{pid}.nii.gz", np.ones((20, 24, 20)) * (1 + int(pid)))
    rewrite_table(folder, "participant_id\tage\n001\t30\n002\t40\n010\t50\n")
    data = cohort(folder, tmp_path, image_pattern="{id}.nii.gz").load(progress=False)
    assert list(data.table.index) == ["001", "002", "010"] and data.images.shape[0] == 3


@pytest.mark.parametrize(
    ("key", "value"),
    [("spacing", [0.0, 8.0, 8.0]), ("spacing", [-2.0, 8.0, 8.0]), ("spacing", [8.0, 8.0]),
     ("shape", [16, 0, 16]), ("shape", [16.5, 16, 16]), ("max_subjects", 0)],
)  # fmt: skip
def test_bad_spacing_shape_and_max_subjects(
    folder: Path, tmp_path: Path, key: str, value: object
) -> None:
    with pytest.raises(ConfigError, match=rf"^dataset\.{key}=.*: must be"):
        cohort(folder, tmp_path, **{key: value}).load(progress=False)
    assert not (tmp_path / "cache").exists(), "rejected before any data is read or written"


def cache_file(tmp_path: Path) -> Path:
    (path,) = (tmp_path / "cache" / "volumes").glob("*/images.npy")
    return path


def overwrite_same_size(path: Path) -> None:
    images = np.load(path, mmap_mode="r+")
    images[0] = 0
    images.flush()


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),  # truncated
        overwrite_same_size,
        lambda p: p.with_name("images.npy.json").unlink(),  # a write killed before its sidecar
    ],
    ids=["truncated", "overwritten", "no-sidecar"],
)
def test_a_damaged_volume_cache_is_named_and_rebuilt(
    folder: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage
) -> None:  # noqa: ANN001
    first = np.array(cohort(folder, tmp_path).load(progress=False).images)
    path = cache_file(tmp_path)
    damage(path)
    again = cohort(folder, tmp_path).load(progress=False)
    assert f"preprocessed-volume cache {path}" in caplog.text and "rebuilding" in caplog.text
    np.testing.assert_array_equal(first, again.images)
    caplog.clear()
    cohort(folder, tmp_path).load(progress=False)
    assert "rebuilding" not in caplog.text, "the rebuilt cache verifies"


@pytest.mark.slow
def test_debug_smoke_runs_end_to_end_on_a_real_nifti_folder(tmp_path: Path) -> None:
    """``tlsweep dataset=nifti dataset.root=<folder> debug=smoke``, through the real CLI."""
    folder = write_nifti_folder(tmp_path / "bids", n=80)
    root = Path(__file__).resolve().parents[2]
    env = {**cli_env(tmp_path / "cache"), "PYTHONPATH": str(root)}
    result = subprocess.run(
        [sys.executable, "-m", "tlsweep.cli", "dataset=nifti", f"dataset.root={folder}"]
        + ["debug=smoke", "method=scratch"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/*/*/metrics.json")]
    assert record["status"] == "ok" and 0 < record["metrics"]["val/mae"] < 100
    (cache,) = (tmp_path / "cache" / "volumes").glob("*/images.npy")
    assert np.load(cache, mmap_mode="r").shape == (72, 24, 24, 24), "debug=smoke's size"
