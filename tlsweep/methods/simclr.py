"""``method=simclr``: contrastive self-supervised pretraining on the source images, then fine-tune.

SimCLR (Chen et al. 2020) on 3D volumes: each source image gives two random views
(:class:`~tlsweep.data.augment.Augment`: affine map, coarse-grid warp, flips, bias field,
intensity scale/shift, blur, noise, cutout, made in batches on the training device), the encoder
plus a projection MLP maps both, and NT-Xent pulls the two views of a subject together. With
``sigma > 0`` the positives are weighted by a Gaussian kernel over a continuous meta-variable such
as age (y-aware contrastive learning, Dufumier et al. 2021). The source task's labels are
unused by the pretraining, but with ``sigma > 0`` it reads ``meta_column`` of the source
subjects, by default age, the target variable (:meth:`SimCLR.pretrain_label_use`). The
epoch with the lowest NT-Xent on ``source_val`` (fixed views) is kept; the run then freezes the
lowest ``freeze_stages`` stages and fine-tunes on the target task, as for ``pretrain_freeze``,
and the pretrained encoder is cached the same way. With no source-task head, its source-side
score for ``hpo.stage=source_then_target`` is a linear probe on the frozen features, fitted to
the source task's labels.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from tlsweep.data.augment import Augment, from_settings
from tlsweep.errors import ConfigError, suggest
from tlsweep.methods.base import Context, Pretrained, PretrainingMethod
from tlsweep.methods.labels import LabelUse, meta
from tlsweep.methods.losses import nt_xent, yaware_weights
from tlsweep.models.base import Network
from tlsweep.tracking.protocol import RunTracker
from tlsweep.train.data import Batch, Subset, batches
from tlsweep.train.loop import Hooks, Objective, TrainSettings, fit

OBJECTIVE = "source_val/nt_xent"


def projection_head(in_features: int, dims: list[int]) -> nn.Sequential:
    """SimCLR's projection MLP: Linear-BN-ReLU blocks, then a final Linear to ``dims[-1]``."""
    widths, layers = [in_features, *dims], []
    for cin, cout in zip(widths[:-2], widths[1:-1]):
        layers += [nn.Linear(cin, cout), nn.BatchNorm1d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.Linear(widths[-2], widths[-1]))


class SimCLR(PretrainingMethod):
    """Contrastive pretraining (optionally y-aware), then freeze and fine-tune.

    Args:
        freeze_stages: lowest encoder stages frozen during fine-tuning.
        temperature: NT-Xent temperature.
        projection_dims: widths of the projection MLP's layers (the last is the embedding).
        sigma: y-aware kernel bandwidth in units of ``meta_column``; 0 = plain SimCLR.
        meta_column: participants-table column weighting the positives when ``sigma > 0``.
        augment: keyword arguments of :class:`~tlsweep.data.augment.Augment`.

    Raises:
        ConfigError: for a non-positive temperature, an empty projection, negative ``sigma`` or
            an unknown augmentation key.
    """

    VERSION = "1"

    def __init__(
        self,
        freeze_stages: int = 2,
        temperature: float = 0.1,
        projection_dims: list[int] = (128, 64),
        sigma: float = 0.0,
        meta_column: str = "age",
        augment: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(freeze_stages=freeze_stages)
        if temperature <= 0:
            raise ConfigError(f"method.temperature={temperature}: must be > 0")
        if not projection_dims or min(projection_dims) < 1:
            raise ConfigError(f"method.projection_dims={projection_dims}: positive widths needed")
        if sigma < 0:
            raise ConfigError(f"method.sigma={sigma}: must be >= 0 (0 = plain SimCLR)")
        self.temperature, self.sigma, self.meta_column = temperature, sigma, meta_column
        self.projection_dims = [int(d) for d in projection_dims]
        self.augment = from_settings(Augment, augment or {}, "method.augment")

    def pretrain_label_use(self) -> LabelUse:
        """The source set's images; with ``sigma > 0`` also their ``meta_column`` values."""
        labels = (meta(self.meta_column),) if self.sigma > 0 else ()
        return LabelUse(labels, ("source", "source_val"))

    def pretrain(self, ctx: Context, tracker: RunTracker) -> Pretrained:
        """Train encoder plus projection head with NT-Xent on the source images."""
        settings = TrainSettings.from_config(ctx.pretrain_settings, ctx.device, ctx.seed)
        train, val = self._images(ctx, "source"), self._images(ctx, "source_val")
        encoder = ctx.make_encoder()
        model = Network(encoder, projection_head(encoder.out_features, self.projection_dims))
        model.to(ctx.device)
        fit(
            model,
            lambda net, batch, progress: self.contrastive_loss(net, batch),
            train,
            lambda net: {OBJECTIVE: self._validate(net, val, settings.batch_size, ctx)},
            settings,
            Objective(OBJECTIVE, "minimize"),
            hooks=Hooks(tracker=tracker),
            desc="pretrain",
        )
        return Pretrained({k: v.detach().cpu() for k, v in encoder.state_dict().items()})

    def contrastive_loss(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """NT-Xent of two random views of ``batch.x``; ``batch.y`` is the meta-variable."""
        views = torch.cat([self.augment(batch.x), self.augment(batch.x)])
        z1, z2 = model(views).chunk(2)
        weights = yaware_weights(batch.y, self.sigma) if self.sigma > 0 else None
        return nt_xent(z1, z2, self.temperature, weights)

    @torch.no_grad()
    def _validate(self, model: nn.Module, val: Subset, batch_size: int, ctx: Context) -> float:
        """Mean NT-Xent on ``val`` with the same random views every epoch, in eval mode."""
        was_training = model.training
        model.eval()
        devices = [ctx.device] if ctx.device.type == "cuda" else []
        losses = []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(ctx.seed)
            for batch in batches(val, batch_size, torch.Generator().manual_seed(0), ctx.device):
                losses.append(self.contrastive_loss(model, batch).item())
        model.train(was_training)
        return sum(losses) / len(losses) if losses else math.nan

    def _images(self, ctx: Context, role: str) -> Subset:
        """The role's images, with the meta-variable (or zeros) as targets."""
        ids = ctx.splits[role]
        images = Subset.from_cohort(ctx.cohort, ids)
        images.targets = torch.zeros(len(ids))
        if self.sigma > 0:
            images.targets = torch.from_numpy(self._meta(ctx, ids))
        return images

    def _meta(self, ctx: Context, ids: list[str]) -> Any:
        table = ctx.cohort.table
        if self.meta_column not in table.columns:
            raise ConfigError(
                f"method.meta_column={self.meta_column}: no such column in the participants "
                f"table; {suggest(self.meta_column, table.columns)}"
                f"columns: {', '.join(map(str, table.columns))}"
            )
        values = table.loc[ids, self.meta_column]
        import pandas as pd

        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.isna().any():
            raise ConfigError(
                f"method.meta_column={self.meta_column}: y-aware weighting (sigma={self.sigma}) "
                f"needs a number for every source subject; {int(numeric.isna().sum())} have none"
            )
        return numeric.to_numpy(dtype="float32")
