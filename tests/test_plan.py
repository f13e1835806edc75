"""``tlsweep plan``: cells, totals, cost, and every cell validated before anything is queued.

Real composition, the real ``tlsweep`` command and the real child process (no mocks).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import open_dict

from tests.conftest import cli_env, readable
from tlsweep.benchmark.plan import compose_cells, validate_cells

TINY = ["dataset.shape=[24,24,24]", "train.epochs=2"]  # cheap to build and to time


def plan(*args: str, cwd: Path, cache_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tlsweep.cli", "plan", *args],
        cwd=cwd,
        env=cli_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )


def errors(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    return [line for line in result.stderr.splitlines() if line.startswith("tlsweep: error:")]


@pytest.mark.slow
def test_a_valid_plan_lists_every_cell_with_totals_and_a_calibrated_cost(
    tmp_path: Path, cache_dir: Path
) -> None:
    result = plan(
        "method=scratch,vat",
        "sample_size=n25,n50",
        "hpo=tpe",
        "hydra.sweeper.n_trials=3",
        "final.seeds=2",
        *TINY,
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for method in ("scratch", "vat"):
        for size in ("n25", "n50"):
            assert re.search(
                rf"^{method}-tiny3d-synthetic_brain-{size}-s0-tpe-\w{{6}} ", result.stdout, re.M
            )
    assert "total: 4 cells, 12 trials, 8 final seeds, 20 jobs" in result.stdout
    assert "CPU-hours (calibrated, upper bound without early stopping)" in result.stdout
    assert "all 4 cells are valid" in result.stdout
    assert not list(tmp_path.glob("multirun*")), "a plan queues nothing and writes nothing"


@pytest.mark.slow
def test_a_bad_cell_fails_in_one_line_naming_it(tmp_path: Path, cache_dir: Path) -> None:
    result = plan(
        "encoder=tiny3d,densenet121",
        "hpo=tpe",
        *TINY,
        "--no-calibrate",
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    assert result.returncode == 2
    (line,) = errors(result)
    assert line.startswith("tlsweep: error: cell pretrain_freeze-densenet121-synthetic_brain-n100")
    assert "encoder=densenet121 cannot take volumes of shape [24, 24, 24] (dataset.shape)" in line
    assert "pretrain_freeze-tiny3d-synthetic_brain-n100-s0-tpe" in result.stdout


@pytest.mark.slow
def test_a_bad_value_in_every_cell_fails_each_cell(tmp_path: Path, cache_dir: Path) -> None:
    result = plan(
        "method=pretrain_freeze,simclr",
        "method.freeze_stages=9",
        *TINY,
        "--no-calibrate",
        cwd=tmp_path,
        cache_dir=cache_dir,
    )
    assert result.returncode == 2
    lines = errors(result)
    assert len(lines) == 2
    for method, line in zip(("pretrain_freeze", "simclr"), lines, strict=True):
        assert re.search(rf"cell {method}-tiny3d-synthetic_brain-n100-s0-none-\w{{6}}:", line)
        assert "method.freeze_stages=9 but encoder Tiny3D has 4 stages" in line


def test_an_unknown_option_or_key_fails_in_one_line(tmp_path: Path, cache_dir: Path) -> None:
    result = plan("method=scratchh,simclrr", cwd=tmp_path, cache_dir=cache_dir)
    assert result.returncode == 2
    assert [line.split(" is not")[0] for line in errors(result)] == [
        "tlsweep: error: cell method=scratchh: method=scratchh",
        "tlsweep: error: cell method=simclrr: method=simclrr",
    ]
    assert "did you mean 'simclr'? options: pretrain_freeze, scratch, simclr" in result.stderr
    result = plan("train.lrr=1", cwd=tmp_path, cache_dir=cache_dir)
    assert result.returncode == 2
    assert errors(result) == [
        "tlsweep: error: train.lrr: no such config key; did you mean 'lr'? keys here: amp, "
        "batch_size, channels_last, checkpoint_every_epoch, compile, cudnn_benchmark, "
        "deterministic, device, epochs, lr, patience, progress, scheduler, threads, "
        "warmup_epochs, weight_decay"
    ]


@pytest.mark.slow
def test_the_plan_process_imports_no_torch_monai_or_mlflow(
    tmp_path: Path, cache_dir: Path
) -> None:
    code = (
        "import sys\nfrom tlsweep.benchmark.plan import main\n"
        f"status = main(['method=scratch,vat', *{TINY!r}, '--no-calibrate'])\n"
        "print('STATUS', status)\n"
        "print('HEAVY', sorted(m for m in ('torch', 'monai', 'mlflow') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=cli_env(cache_dir),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "STATUS 0" in result.stdout, result.stderr[-2000:]
    assert "HEAVY []" in result.stdout


@pytest.mark.slow
def test_the_cost_comes_from_earlier_trials_when_there_are_some(
    tmp_path: Path, cache_dir: Path
) -> None:
    overrides = ["method=scratch", "sample_size=n25", "hpo=tpe", "hydra.sweeper.n_trials=10",
                 "final.seeds=8", f"hydra.sweep.dir={tmp_path / 'bench'}", *TINY]  # fmt: skip
    (name,) = compose_cells(overrides)[0]  # the earlier trials are in the cell's own folder
    cell = tmp_path / "bench" / name
    cell.mkdir(parents=True)
    (cell / "trials.csv").write_text(
        "number,state,value,duration_s,datetime_start\n"
        "0,COMPLETE,10.0,100.0,x\n1,PRUNED,12.0,300.0,x\n2,COMPLETE,9.0,200.0,x\n"
        "3,FAIL,,5000.0,x\n"
    )
    result = plan(*overrides, "--no-calibrate", cwd=tmp_path, cache_dir=cache_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    # median of the finished trials (200 s) x 18 jobs = 1.00 h
    (row,) = [r for r in result.stdout.splitlines() if r.startswith(cell.name)]
    # trials, stage 1, total trials, final seeds, jobs, hours
    assert row.split()[1:7] == ["10", "0", "10", "8", "18", "1.00"]
    assert "from 3 earlier trials" in row
    assert "estimated cost 1.00 CPU-hours (from 3 earlier trials)" in result.stdout


@pytest.mark.slow
def test_validate_cells_on_a_good_and_a_bad_cell(cache_dir: Path, monkeypatch) -> None:
    monkeypatch.setenv("TLSWEEP_CACHE", str(cache_dir))
    configs, problems = compose_cells(["encoder=tiny3d,densenet121", "method=vat", *TINY])
    assert not problems and len(configs) == 2
    names = {readable(name): name for name in configs}
    good, bad = (
        names["vat-tiny3d-synthetic_brain-n100-s0-none"],
        names["vat-densenet121-synthetic_brain-n100-s0-none"],
    )
    plain = configs[good].copy()
    with open_dict(plain):
        del plain["hydra"]  # a config as a run sees it works too
    found = validate_cells({good: configs[good], bad: configs[bad], "plain": plain})
    assert list(found) == [bad]
    assert found[bad].startswith("encoder=densenet121 cannot take volumes of shape [24, 24, 24]")
