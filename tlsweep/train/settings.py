"""What the training loop is told: how to train (:class:`TrainSettings`) and what to select on.

Both are small frozen dataclasses, so the loop's inputs are typed and cannot change under it:
:class:`TrainSettings` is built from ``cfg.train`` (or ``pretrain`` over it, for a method's
pretraining) plus the device and seed; :class:`Objective` names the validation metric that
selects the best epoch and the direction that counts as better.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, fields
from typing import Any

import torch


@dataclass(frozen=True)
class TrainSettings:
    """How the loop trains: ``cfg.train`` (or ``pretrain`` over it), the device and the seed.

    Attributes:
        epochs: epochs to train at most.
        batch_size: labelled images per step.
        lr: AdamW's peak learning rate.
        weight_decay: AdamW's weight decay.
        scheduler: ``cosine`` (decay to 0 after warm-up) or ``constant``.
        warmup_epochs: epochs of linear warm-up.
        patience: stop after this many epochs without a better objective; 0 never stops early.
        amp: bf16 autocast on CUDA (ignored elsewhere).
        progress: show a progress bar per epoch.
        deterministic: deterministic algorithms (set for the process by the run).
        cudnn_benchmark: speed switch (:mod:`tlsweep.train.accel`): cuDNN autotuning.
        channels_last: speed switch: channels-last memory order for weights and batches.
        compile: speed switch: ``torch.compile`` the network.
        device: the training device.
        seed: seeds the generator that shuffles the batches.
    """

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float
    scheduler: str = "cosine"
    warmup_epochs: int = 0
    patience: int = 0
    amp: bool = True
    progress: bool = False
    deterministic: bool = True
    cudnn_benchmark: bool = False
    channels_last: bool = False
    compile: bool = False
    device: torch.device = torch.device("cpu")
    seed: int = 0

    @classmethod
    def from_config(cls, node: Any, device: torch.device, seed: int) -> TrainSettings:
        """Take the loop's keys from ``cfg.train`` or ``ctx.pretrain_settings``.

        A key with a default here may be missing from ``node`` (a speed switch counts as off).
        """
        values: dict[str, Any] = {"device": device, "seed": seed}
        for f in fields(cls):
            if f.name not in values:
                default = () if f.default is MISSING else (f.default,)
                values[f.name] = getattr(node, f.name, *default)
        return cls(**values)


@dataclass(frozen=True)
class Objective:
    """The validation metric that selects the best epoch, and which way is better.

    Attributes:
        metric: a key of the validation metrics, e.g. ``val/mae``; its prefix is the split.
        direction: ``minimize`` or ``maximize``.
    """

    metric: str
    direction: str = "minimize"

    def is_better(self, value: float, best: float) -> bool:
        """Whether ``value`` beats ``best`` (NaN never does; anything beats a NaN best)."""
        if math.isnan(value):
            return False
        if math.isnan(best):
            return True
        return value < best if self.direction == "minimize" else value > best
