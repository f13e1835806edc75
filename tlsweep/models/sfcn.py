"""``encoder=sfcn``: the Simple Fully Convolutional Network for brain age (Peng et al. 2021).

Five blocks of 3x3x3 conv, batch norm, max-pool, ReLU with 32-64-128-256-256 channels, then a
1x1x1 conv to 64 channels (about 3 M parameters). Not in MONAI, so written here in plain torch
layers, generic over ``spatial_dims`` (see :data:`tlsweep.models.base.CONV`). Pooling rounds up
(``ceil_mode``), so small test volumes pass through all five blocks; at Peng's 160x192x160 nothing
changes.
"""

from __future__ import annotations

from torch import nn

from tlsweep.models.base import BATCH_NORM, CONV, MAX_POOL, Encoder, layer


def _block(dims: int, cin: int, cout: int, kernel: int, pool: bool) -> nn.Sequential:
    layers = [
        layer(CONV, dims)(cin, cout, kernel_size=kernel, padding=kernel // 2),
        layer(BATCH_NORM, dims)(cout),
    ]
    if pool:
        layers.append(layer(MAX_POOL, dims)(kernel_size=2, stride=2, ceil_mode=True))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SFCN(Encoder):
    """SFCN feature extractor; its six blocks are the stages.

    Args:
        channels: conv blocks' channels; the last is the 1x1 block (Peng et al.: 32..256, 64).
        spatial_dims: 2 or 3.
        in_channels: input channels.
    """

    def __init__(
        self,
        channels: list[int] = (32, 64, 128, 256, 256, 64),
        spatial_dims: int = 3,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        widths = [in_channels, *channels]
        last = len(channels) - 1
        self.stages = nn.ModuleList(
            _block(spatial_dims, widths[i], widths[i + 1], 1 if i == last else 3, i != last)
            for i in range(len(channels))
        )
        self.out_features = widths[-1]
