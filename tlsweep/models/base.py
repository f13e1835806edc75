"""The encoder contract every network in the ``encoder`` group follows.

An :class:`Encoder` maps ``(B, C, *spatial)`` (``spatial_dims`` 2 or 3) to ``(B, out_features)``
through an ordered list of ``stages``, input side first, so a transfer-learning method can freeze
the lowest *k* of them. Frozen stages keep their batch-norm statistics too: they stay in eval mode
while the rest of the network trains, which keeps their parameters and buffers bit-identical.
"""

from __future__ import annotations

import torch
from torch import nn

from tlsweep.errors import ConfigError

#: Plain torch layers by spatial_dims, for the encoders written here (tiny3d, SFCN). MONAI's layer
#: factories would do the same, but importing any part of MONAI imports all of it (~5 CPU s at
#: every trial's start, benchmarks/startup.py); the MONAI networks (ResNet, DenseNet) still use it.
CONV = {2: nn.Conv2d, 3: nn.Conv3d}
BATCH_NORM = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
MAX_POOL = {2: nn.MaxPool2d, 3: nn.MaxPool3d}


def layer(table: dict[int, type[nn.Module]], spatial_dims: int) -> type[nn.Module]:
    """The layer class for ``spatial_dims`` from one of the tables above.

    Raises:
        ConfigError: ``spatial_dims`` is not 2 or 3.
    """
    if spatial_dims not in table:
        raise ConfigError(f"encoder.spatial_dims={spatial_dims}: valid: 2, 3")
    return table[spatial_dims]


class Encoder(nn.Module):
    """Base class: subclasses fill ``self.stages`` and ``self.out_features`` in ``__init__``."""

    stages: nn.ModuleList
    out_features: int

    def __init__(self) -> None:
        super().__init__()
        self.frozen_stages = 0

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map, before pooling."""
        for stage in self.stages:
            x = stage(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled features, shape (B, out_features)."""
        return self.features(x).flatten(2).mean(-1)

    def freeze(self, k: int) -> None:
        """Freeze the lowest ``k`` stages: no gradients, batch-norm statistics fixed.

        Raises:
            ConfigError: when ``k`` is negative or above the number of stages.
        """
        if not 0 <= k <= self.num_stages:
            raise ConfigError(
                f"method.freeze_stages={k} but encoder {type(self).__name__} has "
                f"{self.num_stages} stages; valid: 0..{self.num_stages}"
            )
        self.frozen_stages = k
        for i, stage in enumerate(self.stages):
            stage.requires_grad_(i >= k)
        self.train(self.training)

    def train(self, mode: bool = True) -> Encoder:
        super().train(mode)
        for stage in self.stages[: self.frozen_stages]:
            stage.eval()
        return self


class Head(nn.Module):
    """A linear head on pooled features (dropout first): one logit per class or one value."""

    def __init__(self, in_features: int, out_features: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, out_features))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)


class Network(nn.Module):
    """Encoder plus head; ``forward`` returns the head's raw output (B, out_features)."""

    def __init__(self, encoder: Encoder, head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))
