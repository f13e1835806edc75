"""The cohort contract (:mod:`tlsweep.data.cohort`), checked for every dataset yaml on disk.

Parametrised over the files of ``tlsweep/conf/dataset/`` and the user's ``conf/dataset/``
(:func:`tests.conf_options.group_yamls`), never over names: a dataset added as one ``.py`` and
one ``.yaml`` enters every test here (shown by ``test_a_new_dataset_enters_the_suite_...``).
Whether a dataset needs external data is read from its yaml: a mandatory (``???``) key. One whose
only mandatory key is ``root`` and that has an ``image_pattern`` reads a NIfTI folder, and gets a
generated real one laid out as its yaml says; any other is skipped, naming the keys.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tests.conf_options import group_yamls, run_with_plugins
from tests.nifti_folder import write_nifti_folder
from tlsweep.data.cohort import Cohort, Dataset, check_cohort

ROOT = Path(__file__).resolve().parents[2]
DATASETS = sorted(group_yamls("dataset"))


def mandatory_keys(name: str) -> set[str]:
    """The keys the yaml leaves to the user (``???``), dotted; interpolations stay unresolved."""

    def walk(node: object, prefix: str) -> set[str]:
        if isinstance(node, dict):
            return {k for key, v in node.items() for k in walk(v, f"{prefix}{key}.")}
        return {prefix[:-1]} if node == "???" else set()

    raw = OmegaConf.load(group_yamls("dataset")[name])
    return walk(OmegaConf.to_container(raw, resolve=False), "")


def smoke_config(make_cfg, name: str, tmp_path: Path) -> DictConfig:  # noqa: ANN001
    """``dataset=<name> debug=smoke``, with a generated NIfTI folder where the yaml wants one."""
    missing = mandatory_keys(name)
    if not missing:
        return make_cfg(f"dataset={name}", "debug=smoke")
    raw = OmegaConf.load(group_yamls("dataset")[name])
    if missing != {"root"} or "image_pattern" not in raw:
        pytest.skip(f"dataset={name} needs external data: {', '.join(sorted(missing))}")
    layout = {k: raw[k] for k in ("image_pattern", "participants", "id_column") if k in raw}
    folder = write_nifti_folder(tmp_path / "folder", n=40, **layout)
    return make_cfg(f"dataset={name}", "debug=smoke", f"dataset.root={folder}")


def test_the_packaged_datasets_are_all_found() -> None:
    assert {"synthetic_brain", "nifti"} <= set(DATASETS)
    assert mandatory_keys("nifti") == {"root"} and not mandatory_keys("synthetic_brain")


@pytest.mark.parametrize("name", DATASETS)
def test_dataset_loads_a_cohort_that_keeps_the_contract(
    make_cfg, tmp_path: Path, name: str
) -> None:
    cfg = smoke_config(make_cfg, name, tmp_path)
    dataset = instantiate(cfg.dataset)
    assert isinstance(dataset, Dataset), "has load() and shape"
    assert list(dataset.shape) == list(cfg.dataset.shape)
    cohort = dataset.load(progress=False)
    assert isinstance(cohort, Cohort)
    check_cohort(cohort, cfg.dataset.shape)
    assert 8 <= len(cohort.table) <= 200, "debug=smoke keeps the cohort small"
    ids = list(cohort.table.index[::-3])
    np.testing.assert_array_equal(cohort.rows(ids), [cohort.table.index.get_loc(i) for i in ids])
    again = instantiate(cfg.dataset).load(progress=False)
    assert again.table.equals(cohort.table), "the cohort is a pure function of its config"
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(cohort.images))


@pytest.mark.parametrize("name", DATASETS)
def test_folder_rows_follow_the_table(make_cfg, tmp_path: Path, name: str) -> None:
    """In the generated folder the bright blob grows with age: rows must match table order."""
    if not mandatory_keys(name):
        pytest.skip(f"dataset={name} reads no folder")
    cfg = smoke_config(make_cfg, name, tmp_path)
    cohort = instantiate(cfg.dataset).load(progress=False)
    blob = (np.asarray(cohort.images, np.float32) > 1.0).reshape(len(cohort.table), -1).sum(1)
    age = cohort.table["age"].to_numpy()
    rank = np.corrcoef(np.argsort(np.argsort(blob)), np.argsort(np.argsort(age)))[0, 1]
    assert rank > 0.8, f"blob size vs age: Spearman {rank:.2f}"


NEW_DATASETS = {
    "ringcohort.py": '''
        """A cohort from memory: a ring whose radius is the subject's age."""

        from __future__ import annotations

        import numpy as np
        import pandas as pd

        from tlsweep.data.cohort import Cohort


        class RingCohort:
            def __init__(self, n_subjects: int = 200, shape: list[int] = (32, 32, 32)) -> None:
                self.n_subjects, self.shape = n_subjects, list(shape)

            def load(self, progress: bool = True) -> Cohort:
                ids = [f"r{i:02d}" for i in range(self.n_subjects)]
                age = np.linspace(20, 80, self.n_subjects)
                table = pd.DataFrame({"age": age, "sex": ["F", "M"] * (len(ids) // 2)}, ids)
                grid = np.indices(self.shape).sum(0).astype(np.float32)
                images = np.stack([grid % (2 + a / 10) for a in age]).astype(np.float16)
                return Cohort(table=table, images=images)

        class OffByOne(RingCohort):
            def load(self, progress: bool = True) -> Cohort:
                cohort = super().load(progress)
                return Cohort(table=cohort.table, images=cohort.images[1:])
        ''',
    "ringcohort.yaml": "_target_: ringcohort.RingCohort\nn_subjects: 200\nshape: [32, 32, 32]\n",
    "offbyone.yaml": "_target_: ringcohort.OffByOne\nn_subjects: 200\nshape: [32, 32, 32]\n",
    "smoke_ringcohort.yaml": "n_subjects: 72\nshape: [12, 12, 12]\n",
}


def test_a_new_dataset_enters_the_suite_without_editing_a_test(tmp_path: Path) -> None:
    """One ``.py`` on the path, one ``.yaml`` in the user's conf: the suite runs them."""

    def place(name: str) -> str:
        if name.endswith(".py"):
            return f"mod/{name}"
        return (
            f"conf/debug/dataset/{name}" if name.startswith("smoke_") else f"conf/dataset/{name}"
        )

    files = {place(name): text for name, text in NEW_DATASETS.items()}
    outcomes = run_with_plugins(tmp_path, files, [__file__], "ringcohort or offbyone")
    assert outcomes == {
        "test_dataset_loads_a_cohort_that_keeps_the_contract[ringcohort]": "passed",
        "test_folder_rows_follow_the_table[ringcohort]": "skipped",
        "test_dataset_loads_a_cohort_that_keeps_the_contract[offbyone]": "failed",
        "test_folder_rows_follow_the_table[offbyone]": "skipped",
    }


def test_an_encoder_wanting_more_channels_than_the_cohort_is_rejected(make_cfg) -> None:
    from tlsweep.data.cohort import check_in_channels
    from tlsweep.errors import ConfigError

    for name in group_yamls("encoder"):  # every shipped encoder takes the cohort's one channel
        check_in_channels(make_cfg(f"encoder={name}").encoder, name)
    cfg = make_cfg("encoder=sfcn", "encoder.in_channels=2")
    with pytest.raises(ConfigError, match=r"^encoder.in_channels=2 \(encoder=sfcn\) but cohort"):
        check_in_channels(cfg.encoder, "sfcn")
