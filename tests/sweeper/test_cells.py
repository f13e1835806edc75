"""Cells of a plain Hydra app: own folders and studies, equal budgets, interleaved slots."""

from __future__ import annotations

from tests.sweeper.conftest import journal_study
from tlsweep.benchmark.jobs import JobInfo


def test_cells_under_a_fixed_study_name_never_collide_and_share_slots(sweep) -> None:
    s = sweep()
    s.ok(
        "hpo=random",
        "method=none,toy",
        "x0=interval(-2,2)",
        "hydra.sweeper.study_name=mine",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.n_jobs=2",
    )
    studies = {name: journal_study(s.dir / name) for name in ("none", "toy")}
    assert {n: st.study_name for n, st in studies.items()} == {
        "none": "mine-none",
        "toy": "mine-toy",
    }
    for study in studies.values():  # equal budgets
        assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
        # interleaved: every batch of two slots held one trial of each cell
        assert sorted(t.user_attrs["tlsweep:step"] for t in study.trials) == [1, 2, 3]
    assert {t.params["x1"] for t in studies["toy"].trials} <= {-1, 0}  # the cell's own space
    assert "x1" not in studies["none"].trials[0].params
    for name in studies:  # job folders live in the cell's folder
        assert sorted(p.name for p in (s.dir / name).iterdir() if p.name.isdigit()) == [
            "0",
            "1",
            "2",
        ]


def test_cells_false_makes_the_group_one_categorical_dimension(sweep) -> None:
    s = sweep()
    s.ok("hpo=random", "method=none,toy", "hydra.sweeper.cells=false", "hydra.sweeper.n_trials=4")
    study = s.study()  # one study, in the sweep dir itself
    assert len(study.trials) == 4
    assert {t.params["method"] for t in study.trials} <= {"none", "toy"}


def test_job_info_round_trips_through_the_environment() -> None:
    job = JobInfo(role="final", cell="a-b", study="s'1", storage="/x y/j.log", trial=3)
    assert JobInfo.from_env(job.env()) == job
    assert JobInfo.from_env({}) == JobInfo()
    assert not job.in_study and JobInfo(role="source").in_study
    assert "++hydra.job.env_set.TLSWEEP_JOB_STUDY='s\\'1'" in job.overrides()


def test_a_jobs_slot_picks_its_gpu() -> None:
    packed = [JobInfo(slot=s, trials_per_gpu=2).cuda_index(device_count=2) for s in range(6)]
    assert packed == [0, 0, 1, 1, 0, 0]  # two per GPU, wrapping around the visible GPUs
    assert [JobInfo(slot=s).cuda_index(4) for s in range(4)] == [0, 1, 2, 3]
    assert JobInfo().cuda_index(4) == 0 and JobInfo(slot=3).cuda_index(0) == 0
    assert JobInfo.from_env(JobInfo(slot=3, trials_per_gpu=2).env()).slot == 3


def test_untuned_cells_refuse_a_budget_and_unknown_stages_are_one_line() -> None:
    import pytest
    from hydra import compose, initialize_config_module
    from hydra.errors import ConfigCompositionException
    from omegaconf import OmegaConf

    from tests.conftest import readable
    from tlsweep.benchmark.cells import cell_name, check_stage, check_untuned
    from tlsweep.errors import ConfigError, explain

    with initialize_config_module(version_base="1.3", config_module="tlsweep.conf"):
        untuned = compose("config", ["hpo=untuned"], return_hydra_config=True)
        budget = compose("config", ["hpo=untuned", "hydra.sweeper.n_trials=4"], True)
        with pytest.raises(ConfigCompositionException) as bad:  # an enum: refused on compose
            compose("config", ["hpo=tpe", "hpo.stage=both"], return_hydra_config=True)
    assert "hpo.stage=both is not a valid option" in explain(bad.value)
    check_untuned(untuned)
    assert readable(cell_name(untuned)).endswith("-s0-untuned")
    with pytest.raises(ConfigError, match="hydra.sweeper.n_trials=4"):
        check_untuned(budget)
    with pytest.raises(ConfigError, match="hpo.stage=both is not a valid option"):
        check_stage(OmegaConf.create({"hpo": {"stage": "both"}}))
