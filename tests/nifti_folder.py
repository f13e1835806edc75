"""A small real NIfTI folder on disk, laid out like a BIDS dataset, for loader and error tests."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd


def write_nifti_folder(
    root: Path,
    n: int = 40,
    shape: tuple[int, ...] = (20, 24, 20),
    voxel_mm: float = 8.0,
    seed: int = 0,
    image_pattern: str = "{id}/anat/{id}_T1w.nii.gz",
    participants: str = "participants.tsv",
    id_column: str = "participant_id",
) -> Path:
    """Write ``n`` subjects whose bright-blob size grows with age; return ``root``.

    ``image_pattern``, ``participants`` and ``id_column`` lay the folder out as a dataset config
    with those values expects it (a ``.csv`` table is comma-separated, anything else tab).
    """
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    radius = np.sqrt((grid**2).sum(0))
    rows = []
    for i in range(n):
        pid, age = f"sub-{i:03d}", float(rng.uniform(20, 80))
        image = (radius < 0.3 + 0.006 * age).astype(np.float32) + rng.normal(0, 0.1, shape)
        write_image(root / image_pattern.format(id=pid), image, voxel_mm)
        rows.append(
            {
                id_column: pid,
                "age": round(age, 1),
                "sex": "MF"[i % 2],
                "site": "site-A",
                "group": "patient",
            }
        )
    table = root / participants
    table.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(table, sep="," if table.suffix == ".csv" else "\t", index=False)
    return root


def write_image(path: Path, image: np.ndarray, voxel_mm: float = 8.0) -> Path:
    """Write ``image`` (3-D, or 4-D for several volumes) as a float32 NIfTI file at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    affine = np.diag([voxel_mm] * 3 + [1.0])
    nib.save(nib.Nifti1Image(np.asarray(image, np.float32), affine), path)
    return path
