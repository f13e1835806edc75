"""The method interface: what a transfer-learning method is, and what it must promise.

A run assembles every method the same way (:func:`tlsweep.methods.assemble.prepare_model`)::

    pretrained = method.pretrain(ctx, tracker)        # PretrainingMethod only, through the cache
    encoder.load_state_dict(pretrained.state)         # then reseed: fine-tuning is the same
    encoder.freeze(method.freeze_stages)              # whether the cache hit or missed
    fit(Network(encoder, head), method.loss, unlabelled=method.unlabelled(ctx))

so freezing and fine-tuning are shared, and a method only says how it pretrains (supervised,
self-supervised, or not at all), which images it uses without labels, its target-training
loss, and which labels and subjects all that reads (:meth:`Method.label_use`,
:mod:`tlsweep.methods.labels`). :class:`Method` is the interface of every method;
:class:`PretrainingMethod` adds a pretraining phase whose cache key is built from *every*
constructor argument except those the class names in ``FINETUNE_ARGS``, so a new argument can
never be silently left out of the key.
:class:`SemiSupervised` is the base of methods that add a consistency term on unlabelled images.
``tests/methods/test_contract.py`` checks these promises for every yaml in ``conf/method/``.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from tlsweep.data.nifti import Cohort
from tlsweep.data.splits import Splits
from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError
from tlsweep.methods.labels import SOURCE_SCORING, SOURCE_TASK, TARGET_TASK, LabelUse
from tlsweep.methods.losses import ramp_up, supervised_loss
from tlsweep.models.base import Encoder
from tlsweep.tracking.protocol import RunTracker
from tlsweep.train.data import Batch, Subset

State = dict[str, torch.Tensor]
LossOutput = torch.Tensor | tuple[torch.Tensor, dict[str, torch.Tensor]]
#: Roles whose images no method may use during training, with or without labels.
HELD_OUT_ROLES = ("val", "test")


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
        tracker: this run's tracker (MLflow, or a null one with tracking off).
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
    tracker: RunTracker
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


class Method(ABC):  # noqa: B024 - every hook has a default: plain supervised training
    """A transfer-learning method: how the network trains on the labelled target set.

    The contract (checked for every method yaml by ``tests/methods/test_contract.py``):

    - The constructor takes the yaml's keys (minus ``_target_`` and the search spaces) as
      keyword arguments with plain values, and rejects bad ones with a one-line
      :class:`~tlsweep.errors.ConfigError` naming ``method.<key>``.
    - :meth:`loss` maps a batch to a scalar loss with a gradient, or to ``(loss, parts)`` whose
      parts are scalars the loop logs per epoch as ``train/<name>``.
    - :meth:`unlabelled` returns the images added to every batch as ``x_u``, or None; never a
      subject of a :data:`HELD_OUT_ROLES` role; only of the roles :meth:`unlabelled_roles`
      names.
    - ``freeze_stages`` lowest encoder stages are frozen during target training (0 here).
    - :meth:`label_use` declares, from the configuration, every label and split role a run
      reads beyond the protocol's ``val`` and ``test``.

    A method without pretraining subclasses this directly; the default loss is supervised.
    """

    freeze_stages: int = 0

    def unlabelled_roles(self) -> tuple[str, ...]:
        """The split roles whose images :meth:`unlabelled` returns (none here)."""
        return ()

    def unlabelled(self, ctx: Context) -> Subset | None:
        """Unlabelled images for target training (``batch.x_u``), or None for none."""
        return None

    def label_use(self, stage1: bool = False) -> LabelUse:
        """The labels and split roles a run of this method reads, given its configuration.

        Here: the target task's labels of the ``train`` role, plus the images of
        :meth:`unlabelled_roles` without their labels.

        Args:
            stage1: a stage-1 run of ``hpo.stage=source_then_target`` (a pretraining scored on
                the source task; only :class:`PretrainingMethod` has one).
        """
        return LabelUse((TARGET_TASK,), ("train", *self.unlabelled_roles()))

    def loss(self, model: nn.Module, batch: Batch, task: Task, progress: float) -> LossOutput:
        """Target-training loss of one batch.

        Args:
            model: encoder plus head.
            batch: labelled images ``x`` ``(B, C, *spatial)`` and targets ``y``; ``x_u`` if any.
            task: the target task.
            progress: fraction of training done, in [0, 1] (for ramp-ups).

        Returns:
            A scalar loss, or ``(loss, parts)`` with named scalar parts to log.
        """
        return supervised_loss(model(batch.x), batch.y, task)


def _recording(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap ``__init__`` to record the outermost call's arguments (a subclass calls super)."""
    signature = inspect.signature(init)

    @functools.wraps(init)
    def wrapper(self: PretrainingMethod, *args: Any, **kwargs: Any) -> None:
        if "_init_args" not in self.__dict__:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            recorded = dict(bound.arguments)
            recorded.pop(next(iter(signature.parameters)))  # self
            for name, param in signature.parameters.items():
                if param.kind is param.VAR_KEYWORD:
                    recorded.update(recorded.pop(name))
            self.__dict__["_init_args"] = recorded
        init(self, *args, **kwargs)

    return wrapper


@dataclass
class Pretrained:
    """What a pretraining produces.

    Attributes:
        state: the encoder's weights: a state dict with exactly the keys and shapes of
            ``ctx.make_encoder().state_dict()``, as CPU tensors.
        source_metrics: for a pretraining that trains a head on the source task, that head's
            metrics on ``source_val`` at the selected epoch, named ``source_val/<metric>``, plus
            ``source_val/loss`` (log loss or MSE); None otherwise (then the source side is scored
            with a linear probe, :func:`tlsweep.methods.probe.linear_probe`).
    """

    state: State
    source_metrics: dict[str, float] | None = None


class PretrainingMethod(Method):
    """A method with a pretraining phase (on the source set), then freeze and fine-tune.

    Beyond :class:`Method`'s contract:

    - :meth:`pretrain` trains a fresh ``ctx.make_encoder()`` on the source roles only
      (``source`` to fit, ``source_val`` to select an epoch) and returns a :class:`Pretrained`.
      It is called through the pretrained-encoder cache, never directly by a run.
    - Every constructor argument is part of the cache key, except those named in
      ``FINETUNE_ARGS``, which must change only the fine-tuning. The arguments are recorded as
      given (defaults filled in) before ``__init__`` runs, so the key cannot miss one.
    - The key also holds a digest of the code the pretraining runs (the method's module, the
      encoder's, and the ``tlsweep`` and own-package modules they import; see
      :mod:`tlsweep.methods.code_digest`), so editing that code never reuses a stale encoder.
      ``VERSION`` is bumped for a change the digest cannot see (a third-party library's
      behaviour, code reached without an import).
    - :meth:`pretrain_label_use` declares what :meth:`pretrain` reads; a stage-1 run adds the
      source task's labels it is scored on (:data:`~tlsweep.methods.labels.SOURCE_SCORING`).
    - In the yaml, ``search_space`` holds fine-tuning parameters only (``train.*`` and
      ``method.<FINETUNE_ARG>``); ``pretrain_search_space`` holds the rest (``pretrain.*`` and
      ``method.<other arg>``).

    Args:
        freeze_stages: lowest encoder stages frozen during fine-tuning (0 = fine-tune all).
    """

    FINETUNE_ARGS: ClassVar[tuple[str, ...]] = ("freeze_stages",)
    VERSION: ClassVar[str] = "1"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _recording(cls.__init__)

    @_recording
    def __init__(self, freeze_stages: int) -> None:
        self.freeze_stages = freeze_stages

    @property
    def init_args(self) -> dict[str, Any]:
        """The constructor's arguments, as given, with defaults filled in."""
        return dict(self.__dict__["_init_args"])

    def pretrain_args(self, ctx: Context) -> dict[str, Any]:
        """What the pretraining depends on beyond the run's data, encoder and schedule.

        Every constructor argument not in ``FINETUNE_ARGS``, and the source task (whose labels
        or subjects a pretraining may use). Not meant to be overridden: that is how a key
        misses an argument.
        """
        args = {k: v for k, v in self.init_args.items() if k not in self.FINETUNE_ARGS}
        task = ctx.source_task
        return {**args, "source_task": [task.column, task.type, task.loss, task.classes]}

    def pretrain_label_use(self) -> LabelUse:
        """What :meth:`pretrain` reads: here the source task's labels of the source set (a
        supervised pretraining); a pretraining that reads other labels, or none, overrides it.
        """
        return LabelUse((SOURCE_TASK,), ("source", "source_val"))

    def label_use(self, stage1: bool = False) -> LabelUse:
        """The pretraining's use, plus fine-tuning's (target labels of ``train``), or in a
        stage-1 run the source-side scoring's (source labels of the source set) instead."""
        if stage1:
            return self.pretrain_label_use() | SOURCE_SCORING
        return self.pretrain_label_use() | super().label_use()

    @abstractmethod
    def pretrain(self, ctx: Context, tracker: RunTracker) -> Pretrained:
        """Pretrain a fresh encoder on the source roles.

        Args:
            ctx: the run's context; use ``ctx.pretrain_settings`` as the schedule and
                ``ctx.seed`` for every random choice.
            tracker: the pretraining's own MLflow run, for per-epoch metrics.

        Returns:
            The encoder's weights, and the source-task metrics when the pretraining has them.
        """


class SemiSupervised(Method):
    """Base of semi-supervised methods: supervised loss plus a ramped-up consistency term.

    No pretraining: the network trains from scratch on the labelled target set, and every batch
    also carries as many unlabelled images (``batch.x_u``): the source set's images, and the
    unlabelled rest of the target pool when ``use_target_unlabelled``. The loss is
    ``supervised + alpha * ramp_up(progress) * consistency``; subclasses implement :meth:`losses`.

    Args:
        alpha: weight of the consistency term once ramped up.
        ramp_up: fraction of training over which the weight rises (sigmoid); 0 = none.
        use_target_unlabelled: also use the target pool's unlabelled subjects.

    Raises:
        ConfigError: for a negative ``alpha`` or a ``ramp_up`` outside [0, 1].
    """

    def __init__(self, alpha: float, ramp_up: float, use_target_unlabelled: bool) -> None:
        if alpha < 0:
            raise ConfigError(f"method.alpha={alpha}: must be >= 0")
        if not 0 <= ramp_up <= 1:
            raise ConfigError(f"method.ramp_up={ramp_up}: a fraction of training, in [0, 1]")
        self.alpha, self.ramp_up = alpha, ramp_up
        self.use_target_unlabelled = use_target_unlabelled

    def unlabelled_roles(self) -> tuple[str, ...]:
        """The source set, plus the target pool's unlabelled subjects when asked for."""
        return ("source", "source_val") + (("unlabelled",) if self.use_target_unlabelled else ())

    def unlabelled(self, ctx: Context) -> Subset:
        """Images of the source set (labels unused), plus the target pool's unlabelled ones."""
        ids = [pid for role in self.unlabelled_roles() for pid in ctx.splits[role]]
        if not ids:
            raise ConfigError(
                f"method={type(self).__name__}: no unlabelled images (split.source_fraction="
                f"{ctx.split_cfg.source_fraction if ctx.split_cfg else '?'}); raise it"
            )
        return Subset.from_cohort(ctx.cohort, ids)

    def loss(self, model: nn.Module, batch: Batch, task: Task, progress: float) -> LossOutput:
        """``supervised + alpha * ramp_up(progress) * consistency``, and both parts for logging."""
        if batch.x_u is None:
            return super().loss(model, batch, task, progress)
        weight = self.alpha * ramp_up(progress, self.ramp_up)
        supervised, consistency = self.losses(model, batch, task)
        parts = {"supervised": supervised, "consistency": consistency}
        return supervised + weight * consistency, parts

    @abstractmethod
    def losses(
        self, model: nn.Module, batch: Batch, task: Task
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The supervised loss on ``batch.x`` and the consistency term on ``batch.x_u``."""
