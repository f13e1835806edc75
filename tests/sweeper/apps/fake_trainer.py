"""Fake trainer for the pruning tests: reports a decaying validation curve every epoch.

The curve's floor is (log10(lr) + 2)^2, so lr near 1e-2 is best and bad learning rates are
visibly bad from the first epochs, which is what a pruner needs.
"""

from __future__ import annotations

import math
import time

import hydra
from omegaconf import DictConfig

from tlsweep.benchmark.jobs import JobInfo
from tlsweep.hpo.pruning import TrialReporter


@hydra.main(version_base="1.3", config_path="conf", config_name="trainer")
def main(cfg: DictConfig) -> float:
    reporter = TrialReporter.from_job(JobInfo.from_env())
    floor = (math.log10(cfg.lr) + 2) ** 2
    value = math.inf
    for epoch in range(cfg.epochs):
        time.sleep(cfg.epoch_seconds)
        value = floor + 1.0 / (epoch + 1)
        if reporter is not None:
            reporter.report(epoch, value)
    return value


if __name__ == "__main__":
    main()
