"""``encoder=tiny3d``: a very small CNN (about 70 k parameters) for CPU tests and smoke runs."""

from __future__ import annotations

from collections import OrderedDict

from torch import nn

from tlsweep.models.base import BATCH_NORM, CONV, Encoder, layer


def _stage(dims: int, cin: int, cout: int) -> nn.Sequential:
    """Strided 3x3 conv, batch norm, ReLU; named like MONAI's ``Convolution`` block (``conv``,
    ``adn.N``, ``adn.A``), which it replaced, so state dicts saved before still load."""
    conv = layer(CONV, dims)(cin, cout, kernel_size=3, stride=2, padding=1)
    adn = nn.Sequential(OrderedDict(N=layer(BATCH_NORM, dims)(cout), A=nn.ReLU()))
    return nn.Sequential(OrderedDict(conv=conv, adn=adn))


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
            _stage(spatial_dims, cin, cout) for cin, cout in zip(widths[:-1], widths[1:])
        )
        self.out_features = widths[-1]
