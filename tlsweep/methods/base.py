"""The Method interface: an optional pretraining phase, then training on the target task.

``run`` drives every method the same way::

    state = method.pretrain(ctx)              # encoder weights, or None (no pretraining)
    encoder.load_state_dict(state)            # when there are some
    encoder.freeze(method.freeze_stages)      # lowest k stages fixed
    fit(Network(encoder, head), method.loss)  # the one training loop

so freezing and fine-tuning are shared, and a method only says how it pretrains (supervised,
self-supervised, or not at all) and what its target-training loss is. A method that pretrains sets
``pretrains = True`` and implements ``_pretrain``; :meth:`Method.pretrain` wraps it in the
pretrained-encoder cache (:mod:`tlsweep.methods.cache`), so trials that differ only in fine-tuning
settings share one pretraining. A method whose ``uses_unlabelled`` is true gets batches that also
carry unlabelled images (``batch.x_u``); :class:`SemiSupervised` is the base of those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tlsweep.data.nifti import Cohort
from tlsweep.data.splits import Splits
from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError
from tlsweep.methods.losses import ramp_up, supervised_loss
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
    dataset_cfg: Any = None
    split_cfg: Any = None

    @property
    def pretrain_settings(self) -> Any:
        """``train`` settings with the ``pretrain`` schedule on top (for a pretraining phase)."""
        from omegaconf import OmegaConf

        schedule = OmegaConf.to_container(self.pretrain, resolve=True)
        return OmegaConf.merge(self.train, {k: v for k, v in schedule.items() if k in self.train})

    def subset(self, role: str, task: Task | None = None) -> Subset:
        """Images of one split role, with ``task``'s targets when given."""
        return Subset.from_cohort(self.cohort, self.splits[role], task)


class Method:
    """Base class of all methods: supervised target training, no pretraining.

    Args:
        freeze_stages: number of lowest encoder stages frozen during target training.
    """

    uses_unlabelled: bool = False
    pretrains: bool = False
    VERSION: str = "1"  # bump when a change to ``_pretrain`` makes cached encoders stale

    def __init__(self, freeze_stages: int = 0) -> None:
        self.freeze_stages = freeze_stages

    def pretrain(self, ctx: Context) -> dict[str, torch.Tensor] | None:
        """Return pretrained encoder weights (a state dict of ``ctx.make_encoder()``) or None.

        For a method that ``pretrains``, the weights come from the pretrained-encoder cache,
        built by :meth:`_pretrain` on a miss; the run is tagged with the cache key, hit or miss,
        and the MLflow run that holds the pretraining.
        """
        if not self.pretrains:
            return None
        from tlsweep.methods.cache import pretrained_encoder

        return pretrained_encoder(self, ctx)

    def _pretrain(self, ctx: Context, tracker: Any) -> dict[str, torch.Tensor]:
        """Pretrain a fresh encoder and return its weights (CPU tensors).

        Args:
            ctx: the run's context.
            tracker: the pretraining's own MLflow run, for per-epoch metrics.
        """
        raise NotImplementedError(f"{type(self).__name__} sets pretrains but has no _pretrain")

    def pretrain_args(self, ctx: Context) -> dict[str, Any]:
        """Settings of this method, beyond the run's, that the pretraining depends on.

        Part of the cache key with the data, split, encoder, schedule, seed and ``VERSION``;
        fine-tuning settings (``freeze_stages``, …) must stay out so trials share the encoder.
        """
        return {}

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

        Returns:
            The loss, or ``(loss, parts)`` whose named parts the loop logs per epoch.
        """
        return supervised_loss(model(batch.x), batch.y, task)


class SemiSupervised(Method):
    """Base of semi-supervised methods: supervised loss plus a ramped-up consistency term.

    No pretraining: the network trains from scratch on the labelled target set, and every batch
    also carries as many unlabelled images (``batch.x_u``): the source set's images, and the
    unlabelled rest of the target pool when ``use_target_unlabelled``. The loss is
    ``supervised + alpha * ramp_up(progress) * consistency``.

    Args:
        alpha: weight of the consistency term once ramped up.
        ramp_up: fraction of training over which the weight rises (sigmoid); 0 = none.
        use_target_unlabelled: also use the target pool's unlabelled subjects.

    Raises:
        ConfigError: for a negative ``alpha`` or a ``ramp_up`` outside [0, 1].
    """

    uses_unlabelled = True

    def __init__(self, alpha: float, ramp_up: float, use_target_unlabelled: bool) -> None:
        super().__init__(freeze_stages=0)
        if alpha < 0:
            raise ConfigError(f"method.alpha={alpha}: must be >= 0")
        if not 0 <= ramp_up <= 1:
            raise ConfigError(f"method.ramp_up={ramp_up}: a fraction of training, in [0, 1]")
        self.alpha, self.ramp_up = alpha, ramp_up
        self.use_target_unlabelled = use_target_unlabelled

    def unlabelled(self, ctx: Context) -> Subset:
        """Images of the source set (labels unused), plus the target pool's unlabelled ones."""
        roles = ["source", "source_val"] + (["unlabelled"] if self.use_target_unlabelled else [])
        ids = [pid for role in roles for pid in ctx.splits[role]]
        if not ids:
            raise ConfigError(
                f"method={type(self).__name__}: no unlabelled images (split.source_fraction="
                f"{ctx.split_cfg.source_fraction if ctx.split_cfg else '?'}); raise it"
            )
        return Subset.from_cohort(ctx.cohort, ids)

    def loss(
        self, model: nn.Module, batch: Batch, task: Task, progress: float
    ) -> torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``supervised + alpha * ramp_up(progress) * consistency``, and both parts for logging."""
        if batch.x_u is None:
            return super().loss(model, batch, task, progress)
        weight = self.alpha * ramp_up(progress, self.ramp_up)
        supervised, consistency = self.losses(model, batch, task)
        parts = {"supervised": supervised, "consistency": consistency}
        return supervised + weight * consistency, parts

    def losses(
        self, model: nn.Module, batch: Batch, task: Task
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The supervised loss on ``batch.x`` and the consistency term on ``batch.x_u``."""
        raise NotImplementedError
