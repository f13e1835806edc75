"""Bad input: one line naming the key, the value and the options; non-zero exit; no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import run_cli as tlsweep
from tests.nifti_folder import write_nifti_folder
from tlsweep.errors import ConfigError
from tlsweep.run import run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["method=simclrr"], r"method=simclrr is not a valid option; .*options: .*scratch"),
        (["train.lrr=0.1"], r"train.lrr: no such config key; did you mean 'lr'\?"),
        (["train.epochs=ten"], r"train.epochs='ten': .*could not be converted to Integer"),
        (["dataset=nifti", "dataset.root=/no/such/dir"], r"dataset.root=/no/such/dir: no such"),
        (["+experiment=nope"], r"experiment=nope: no config group or key of that name"),
    ],
)
def test_cli_reports_one_line_and_exits_2(
    args: list[str], message: str, cache_dir: Path, tmp_path: Path
) -> None:
    result = tlsweep(*args, cache_dir=cache_dir, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "tlsweep: error:" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    import re

    assert re.search(message, errors[0]), errors[0]
    assert not (tmp_path / "mlflow.db").exists(), "nothing is logged for a rejected config"


@pytest.fixture
def nifti_overrides(tmp_path: Path) -> list[str]:
    root = write_nifti_folder(tmp_path / "bids", n=40)
    return [
        "dataset=nifti",
        f"dataset.root={root}",
        "dataset.spacing=[8,8,8]",
        "dataset.shape=[16,16,16]",
        "split.val_pool=5",
        "sample_size.n_train=8",
        "sample_size.n_val=5",
        "train.epochs=1",
        "pretrain.epochs=1",
    ]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            ["target_task.column=agee"],
            r"target_task.column=agee: no such column .*did you mean "
            r"'age'\? columns: age, sex, site, group",
        ),
        (
            ["target_task.column=sex"],
            r"target_task.column=sex: regression needs numeric labels, "
            r"found 'M'",
        ),
        (
            ["source_task.column=group"],
            r"source_task.column=group: classification needs at least"
            r" two classes, found \['patient'\]",
        ),
        (["sample_size.n_train=100"], r"sample_size.n_train=100 but the labelled pool has \d+ "),
        (
            ["method=pretrain_freeze", "method.freeze_stages=7"],
            r"method.freeze_stages=7 but encoder Tiny3D has 4 stages; valid: 0..4",
        ),
        (["objective=test/mae"], r"objective=test/mae: must be a validation metric"),
        (
            ["encoder=densenet121"],
            r"encoder=densenet121 cannot take volumes of shape \[16, 16, 16\]",
        ),
        (["objective=val/auroc"], r"objective=val/auroc is not a valid option; .*val/mae"),
    ],
)
def test_run_rejects_bad_values(
    make_cfg, nifti_overrides: list[str], overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        run(make_cfg(*nifti_overrides, *overrides))


def test_unreadable_nifti_is_named_through_run(
    make_cfg, nifti_overrides: list[str], tmp_path: Path
) -> None:
    (tmp_path / "bids" / "sub-007" / "anat" / "sub-007_T1w.nii.gz").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match=r"cannot load NIfTI file .*sub-007_T1w.nii.gz"):
        run(make_cfg(*nifti_overrides))


@pytest.mark.slow  # two CLI processes
def test_a_swept_key_typo_gets_the_plain_override_suggestion(
    cache_dir: Path, tmp_path: Path
) -> None:
    """``train.lrr=interval(...)`` in a sweep says what ``train.lrr=0.1`` says, in one line."""
    plain = tlsweep("train.lrr=0.1", cache_dir=cache_dir, cwd=tmp_path)
    swept = tlsweep(
        "-m",
        "hpo=tpe",
        "debug=smoke",
        "train.lrr=interval(0.1,1)",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cache_dir=cache_dir,
        cwd=tmp_path,
    )
    lines = []
    for result in (plain, swept):
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        (line,) = [ln for ln in result.stderr.splitlines() if "tlsweep: error:" in ln]
        lines.append(line)
    said = lines[0].removeprefix("tlsweep: error: ")
    assert said.startswith("train.lrr: no such config key; did you mean 'lr'? keys here: ")
    assert "nothing queued" in lines[1] and lines[1].endswith(f"search space: {said}")
    assert not list((tmp_path / "sweep").rglob(".hydra")), "no trial job was launched"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("train.lr", None),
        ("train.lrr", "train.lrr: no such config key; did you mean 'lr'? keys here: lr, m"),
        ("trian.lr", "trian: no such config key; did you mean 'train'? keys here: shape, train"),
        ("train.m", None),  # a ??? value is still a key
        ("shape.0", None),  # below a list: not a key to check
        ("train.lr.x", "train.lr.x: no such config key"),  # below a plain value
    ],
)
def test_missing_key_says_what_a_plain_override_says(key: str, expected: str | None) -> None:
    from omegaconf import OmegaConf

    from tlsweep.errors import missing_key

    cfg = OmegaConf.create({"train": {"lr": 0.1, "m": "???"}, "shape": [8, 8]})
    assert missing_key(cfg, key) == expected
