"""The encoder contract, run by every encoder yaml: shapes, stages, freezing."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from tests.conf_options import group_yamls
from tlsweep.errors import ConfigError
from tlsweep.models.base import Encoder, Head, Network
from tlsweep.models.tiny3d import Tiny3D

ENCODERS = sorted(group_yamls("encoder"))
SIZE = {2: 32, 3: 24}
MIN_SIZE = {"densenet121": 32}  # five halvings before its last block


def build(name: str, spatial_dims: int = 3) -> Encoder:
    cfg = OmegaConf.load(group_yamls("encoder")[name])
    cfg.spatial_dims = spatial_dims
    return instantiate(cfg)


@pytest.mark.parametrize("spatial_dims", [2, 3])
@pytest.mark.parametrize("name", ENCODERS)
def test_encoder_maps_batch_to_features(name: str, spatial_dims: int) -> None:
    torch.manual_seed(0)
    encoder = build(name, spatial_dims)
    x = torch.randn(2, 1, *[MIN_SIZE.get(name, SIZE[spatial_dims])] * spatial_dims)
    assert encoder(x).shape == (2, encoder.out_features)
    assert encoder.num_stages >= 3
    assert sum(p.numel() for s in encoder.stages for p in s.parameters()) == sum(
        p.numel() for p in encoder.parameters()
    ), "every parameter belongs to a stage, so freezing k stages is well defined"


@pytest.mark.parametrize("name", ENCODERS)
def test_freezing_keeps_lowest_stages_bit_identical(name: str) -> None:
    torch.manual_seed(0)
    encoder = build(name)
    model = Network(encoder, Head(encoder.out_features, 1))
    k = 2
    encoder.freeze(k)
    before = {n: t.clone() for n, t in encoder.stages[:k].state_dict().items()}
    top_before = [p.clone() for p in encoder.stages[-1].parameters()]
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    loss = model(torch.randn(3, 1, *[MIN_SIZE.get(name, 24)] * 3)).pow(2).mean()
    loss.backward()
    optimizer.step()
    after = encoder.stages[:k].state_dict()
    assert all(torch.equal(before[n], after[n]) for n in before), (
        "frozen weights or BN stats moved"
    )
    assert any(not torch.equal(a, b) for a, b in zip(top_before, encoder.stages[-1].parameters()))


def test_freeze_beyond_stage_count_names_the_limit() -> None:
    with pytest.raises(ConfigError, match=r"method.freeze_stages=5 .* has 4 stages; valid: 0..4"):
        Tiny3D().freeze(5)


def test_sfcn_has_about_three_million_parameters() -> None:
    n = sum(p.numel() for p in build("sfcn").parameters())
    assert 2.5e6 < n < 3.5e6


def _monai_tiny3d(dims: int) -> torch.nn.Module:
    """tiny3d as first written, from MONAI's ``Convolution`` block."""
    from monai.networks.blocks import Convolution

    widths = [1, 8, 16, 32, 64]
    stages = torch.nn.ModuleList(
        Convolution(dims, cin, cout, strides=2, kernel_size=3, act="relu", norm="batch")
        for cin, cout in zip(widths[:-1], widths[1:])
    )
    return torch.nn.ModuleDict({"stages": stages})


@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_tiny3d_is_the_monai_block_network_it_replaced(spatial_dims: int) -> None:
    """Same state-dict keys, same initial weights under a seed, same outputs: checkpoints and
    cached encoders written with MONAI's block load, and results do not move."""
    torch.manual_seed(0)
    ours = Tiny3D(spatial_dims=spatial_dims)
    torch.manual_seed(0)
    theirs = _monai_tiny3d(spatial_dims)
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert list(mine) == list(ref)
    for key in ref:
        assert torch.equal(mine[key], ref[key]), key
    x = torch.randn(2, 1, *[SIZE[spatial_dims]] * spatial_dims)
    y = x
    for stage in theirs["stages"]:
        y = stage(y)
    assert torch.equal(ours.features(x), y)


def test_encoders_written_here_do_not_import_monai() -> None:
    """Importing MONAI costs a trial seconds of start-up; tiny3d and SFCN need only torch."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from tlsweep.models.tiny3d import Tiny3D\n"
        "from tlsweep.models.sfcn import SFCN\n"
        "Tiny3D(); SFCN()\n"
        "print('monai' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_encoder_rejects_unsupported_spatial_dims() -> None:
    with pytest.raises(ConfigError, match="encoder.spatial_dims=4"):
        Tiny3D(spatial_dims=4)
