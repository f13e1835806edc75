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
) -> Path:
    """Write ``n`` subjects whose bright-blob size grows with age; return ``root``."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(*[np.linspace(-1, 1, s) for s in shape], indexing="ij"))
    radius = np.sqrt((grid**2).sum(0))
    rows = []
    for i in range(n):
        pid, age = f"sub-{i:03d}", float(rng.uniform(20, 80))
        image = (radius < 0.3 + 0.006 * age).astype(np.float32) + rng.normal(0, 0.1, shape)
        folder = root / pid / "anat"
        folder.mkdir(parents=True, exist_ok=True)
        nib.save(
            nib.Nifti1Image(image.astype(np.float32), np.diag([voxel_mm] * 3 + [1.0])),
            folder / f"{pid}_T1w.nii.gz",
        )
        rows.append(
            {
                "participant_id": pid,
                "age": round(age, 1),
                "sex": "MF"[i % 2],
                "site": "site-A",
                "group": "patient",
            }
        )
    pd.DataFrame(rows).to_csv(root / "participants.tsv", sep="\t", index=False)
    return root
