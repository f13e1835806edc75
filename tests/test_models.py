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
