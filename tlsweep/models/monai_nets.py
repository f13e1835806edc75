"""``encoder=resnet10|resnet18|resnet34|densenet121``: MONAI's networks as staged encoders.

The MONAI modules are built unchanged and only regrouped into ordered stages (stem, then each
residual layer / dense block), so their weights stay interchangeable with MONAI checkpoints.
"""

from __future__ import annotations

from monai.networks.nets import DenseNet121, ResNet
from torch import nn

from tlsweep.models.base import Encoder


class ResNetEncoder(Encoder):
    """MONAI ResNet without its classifier; stages: stem, layer1..layer4.

    Args:
        layers: blocks per residual layer ([1,1,1,1] = ResNet-10, [2,2,2,2] = 18, [3,4,6,3] = 34).
        block: ``basic`` or ``bottleneck``.
        block_inplanes: channels of the four layers.
        spatial_dims: 2 or 3.
        in_channels: input channels.
        conv1_t_stride: stem stride; 2 (MONAI's default of 1 costs about 8x the FLOPs in 3D).
        conv1_t_size: stem kernel size.
    """

    def __init__(
        self,
        layers: list[int] = (2, 2, 2, 2),
        block: str = "basic",
        block_inplanes: list[int] = (64, 128, 256, 512),
        spatial_dims: int = 3,
        in_channels: int = 1,
        conv1_t_stride: int = 2,
        conv1_t_size: int = 7,
    ) -> None:
        super().__init__()
        net = ResNet(
            block=block,
            layers=list(layers),
            block_inplanes=list(block_inplanes),
            spatial_dims=spatial_dims,
            n_input_channels=in_channels,
            conv1_t_stride=conv1_t_stride,
            conv1_t_size=conv1_t_size,
            feed_forward=False,
        )
        stem = nn.Sequential(net.conv1, net.bn1, net.act, net.maxpool)
        self.stages = nn.ModuleList([stem, net.layer1, net.layer2, net.layer3, net.layer4])
        self.out_features = net.in_planes


class DenseNetEncoder(Encoder):
    """MONAI DenseNet-121 without its classifier; stages: stem, then each dense block.

    Args:
        spatial_dims: 2 or 3.
        in_channels: input channels.
    """

    def __init__(self, spatial_dims: int = 3, in_channels: int = 1) -> None:
        super().__init__()
        feats = DenseNet121(
            spatial_dims=spatial_dims, in_channels=in_channels, out_channels=1
        ).features
        named = dict(feats.named_children())
        stem = nn.Sequential(*(named[n] for n in ("conv0", "norm0", "relu0", "pool0")))
        stages = [stem]
        for i in range(1, 5):
            tail = (
                [named[f"transition{i}"]]
                if f"transition{i}" in named
                else [named["norm5"], nn.ReLU(inplace=True)]
            )
            stages.append(nn.Sequential(named[f"denseblock{i}"], *tail))
        self.stages = nn.ModuleList(stages)
        self.out_features = named["norm5"].num_features
