"""``method=pretrain_freeze``: supervised pretraining on the source task, freeze, fine-tune.

The encoder is first trained with a fresh head on the source set (e.g. sex classification),
selected on the held-back part of the source set; the run then freezes its lowest
``freeze_stages`` stages and fine-tunes the rest with a new head on the target task. The
pretrained encoder is cached (see :mod:`tlsweep.methods.assemble`): trials that vary only
fine-tuning settings pretrain once. The source head's ``source_val`` metrics at the selected epoch
are kept with the encoder, as the source-side objective of ``hpo.stage=source_then_target``.
"""

from __future__ import annotations

from tlsweep.methods.base import Context, Pretrained, PretrainingMethod
from tlsweep.methods.labels import SOURCE_TASK, LabelUse
from tlsweep.methods.probe import source_task_scores
from tlsweep.models.base import Head, Network
from tlsweep.tracking.protocol import RunTracker
from tlsweep.train.loop import Hooks, TrainSettings
from tlsweep.train.supervised import default_objective, fit_subsets


class PretrainFreeze(PretrainingMethod):
    """Supervised pretraining on the source task, then freeze and fine-tune.

    Args:
        freeze_stages: lowest encoder stages frozen during fine-tuning (0 = fine-tune all).

    The pretraining schedule (epochs, lr, …) is the run's ``pretrain`` config.
    """

    VERSION = "2"  # 2: entries carry the source head's metrics

    def __init__(self, freeze_stages: int = 2) -> None:
        super().__init__(freeze_stages=freeze_stages)

    def pretrain_label_use(self) -> LabelUse:
        """The source task's labels of the source set (fit on ``source``, select on the rest)."""
        return LabelUse((SOURCE_TASK,), ("source", "source_val"))

    def pretrain(self, ctx: Context, tracker: RunTracker) -> Pretrained:
        """Train a fresh encoder and head on the source task; keep the best epoch's encoder."""
        settings = TrainSettings.from_config(ctx.pretrain_settings, ctx.device, ctx.seed)
        task = ctx.source_task
        train, val = ctx.subset("source", task), ctx.subset("source_val", task)
        encoder = ctx.make_encoder()
        model = Network(encoder, Head(encoder.out_features, task.out_features)).to(ctx.device)
        objective = default_objective(task, "source_val")
        hooks = Hooks(tracker=tracker)
        fit_subsets(
            model, self.loss, train, val, task, settings, objective, hooks=hooks, desc="pretrain"
        )
        state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
        return Pretrained(state, source_task_scores(model, val, task, ctx.device))
