"""The Method interface: an optional pretraining phase, then training on the target task.

``run`` drives every method the same way::

    state = method.pretrain(ctx)              # encoder weights, or None (no pretraining)
    encoder.load_state_dict(state)            # when there are some
    encoder.freeze(method.freeze_stages)      # lowest k stages fixed
    fit(Network(encoder, head), method.loss)  # the one training loop

so freezing and fine-tuning are shared, and a method only says how it pretrains (supervised,
self-supervised, or not at all) and what its target-training loss is. A method whose
``uses_unlabelled`` is true gets batches that also carry unlabelled images (``batch.x_u``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tlsweep.data.nifti import Cohort
from tlsweep.data.splits import Splits
from tlsweep.data.tasks import Task
from tlsweep.methods.losses import supervised_loss
from tlsweep.models.base import Encoder
from tlsweep.train.data import Batch, Subset


@dataclass
class Context:
    """Everything a method may use; built once per run by :func:`tlsweep.run.run`.

    Attributes:
        cohort: images and participants table.
        splits: participant ids per role (``source``/``source_val`` for pretraining).
        source_task: the pretraining task (e.g. sex classification).
        target_task: the task being evaluated (e.g. age regression).
        make_encoder: builds a fresh, randomly initialised encoder of the configured kind.
        encoder_cfg: the encoder's config (part of a pretraining cache key).
        train: the run's training settings (``cfg.train``).
        pretrain: the pretraining schedule (``cfg.pretrain``), overriding ``train``'s keys.
        device: the training device.
        seed: the run seed.
        tracker: the MLflow tracker of this run.
        cache_dir: where cached artifacts (pretrained encoders) live.
        dataset_cfg: the dataset's config (part of a pretraining cache key).
        split_cfg: the split's config (part of a pretraining cache key).
    """

    cohort: Cohort
    splits: Splits
    source_task: Task
    target_task: Task
    make_encoder: Callable[[], Encoder]
    encoder_cfg: Any
    train: Any
    pretrain: Any
    device: torch.device
    seed: int
    tracker: Any
    cache_dir: Path
    dataset_cfg: Any = None
    split_cfg: Any = None

    @property
    def pretrain_settings(self) -> Any:
        """``train`` settings with the ``pretrain`` schedule on top (for a pretraining phase)."""
        from omegaconf import OmegaConf

        return OmegaConf.merge(self.train, OmegaConf.to_container(self.pretrain))

    def subset(self, role: str, task: Task | None = None) -> Subset:
        """Images of one split role, with ``task``'s targets when given."""
        return Subset.from_cohort(self.cohort, self.splits[role], task)


class Method:
    """Base class of all methods: supervised target training, no pretraining.

    Args:
        freeze_stages: number of lowest encoder stages frozen during target training.
    """

    uses_unlabelled: bool = False

    def __init__(self, freeze_stages: int = 0) -> None:
        self.freeze_stages = freeze_stages

    def pretrain(self, ctx: Context) -> dict[str, torch.Tensor] | None:
        """Return pretrained encoder weights (a state dict of ``ctx.make_encoder()``) or None."""
        return None

    def unlabelled(self, ctx: Context) -> Subset | None:
        """Unlabelled images for target training, when ``uses_unlabelled``."""
        return None

    def loss(self, model: nn.Module, batch: Batch, task: Task, progress: float) -> torch.Tensor:
        """Target-training loss of one batch.

        Args:
            model: encoder plus head.
            batch: labelled images ``x`` (B, 1, D, H, W) and targets ``y``; ``x_u`` if any.
            task: the target task.
            progress: fraction of training done, in [0, 1] (for ramp-ups).
        """
        return supervised_loss(model(batch.x), batch.y, task)
