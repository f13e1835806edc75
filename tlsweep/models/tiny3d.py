"""``encoder=tiny3d``: a very small CNN (about 70 k parameters) for CPU tests and smoke runs."""

from __future__ import annotations

from monai.networks.blocks import Convolution
from torch import nn

from tlsweep.models.base import Encoder


class Tiny3D(Encoder):
    """One strided conv-norm-ReLU block per stage.

    Args:
        channels: output channels of each stage (its length is the number of stages).
        spatial_dims: 2 or 3.
        in_channels: input channels.
    """

    def __init__(
        self, channels: list[int] = (8, 16, 32, 64), spatial_dims: int = 3, in_channels: int = 1
    ) -> None:
        super().__init__()
        widths = [in_channels, *channels]
        self.stages = nn.ModuleList(
            Convolution(
                spatial_dims, cin, cout, strides=2, kernel_size=3, act="relu", norm="batch"
            )
            for cin, cout in zip(widths[:-1], widths[1:])
        )
        self.out_features = widths[-1]
