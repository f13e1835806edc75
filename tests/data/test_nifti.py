"""The NIfTI loader on real files: preprocessing, the compact cache, and clear failures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.nifti_folder import write_nifti_folder
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


def test_subjects_without_image_are_left_out(folder: Path, tmp_path: Path) -> None:
    (folder / "sub-005" / "anat" / "sub-005_T1w.nii.gz").unlink()
    data = cohort(folder, tmp_path).load(progress=False)
    assert "sub-005" not in data.table.index and data.images.shape[0] == 11
