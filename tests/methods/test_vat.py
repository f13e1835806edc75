"""VAT on volumes: per-voxel eps, power iteration direction, fp32, batch norm left alone."""

from __future__ import annotations

import copy

import pytest
import torch

from tlsweep.data.tasks import Task
from tlsweep.methods.losses import consistency, vat_perturbation
from tlsweep.methods.vat import VAT, frozen_batchnorm_stats
from tlsweep.models.base import Head, Network
from tlsweep.models.tiny3d import Tiny3D
from tlsweep.train.data import Batch

REGRESSION = Task("target_task", "age", "regression")


def network(seed: int = 0) -> Network:
    torch.manual_seed(seed)
    return Network(Tiny3D(channels=[4, 8, 8]), Head(8, 1))


def divergence(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return consistency(a, b, REGRESSION)


def test_perturbation_norm_is_eps_per_voxel_for_each_sample() -> None:
    model, x = network().eval(), torch.randn(3, 1, 12, 10, 8)
    with torch.no_grad():
        clean = model(x)
    r = vat_perturbation(model, x, clean, divergence, xi=1e-3, eps=0.3, power_iterations=2)
    assert r.shape == x.shape
    norms = r.flatten(1).norm(dim=1)
    expected = 0.3 * (12 * 10 * 8) ** 0.5
    assert torch.allclose(norms, torch.full((3,), expected), rtol=1e-4), norms


@pytest.mark.parametrize("autocast", [False, True])
def test_one_power_iteration_points_along_the_input_gradient(autocast: bool) -> None:
    model, x = network(1).eval(), torch.randn(4, 1, 12, 12, 12)
    x_grad = x.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x_grad).sum(), x_grad)  # eval mode: per sample
    with torch.no_grad():
        clean = model(x)
    # bf16 autocast around the call: the power iteration must still run in fp32
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        r = vat_perturbation(model, x, clean, divergence, xi=1e-3, eps=1.0, power_iterations=1)
    cosine = torch.nn.functional.cosine_similarity(r.flatten(1), gradient.flatten(1), dim=1)
    assert torch.all(cosine.abs() > 0.999), cosine


def test_perturbed_passes_leave_batchnorm_running_stats_alone() -> None:
    model = network(2).train()
    reference = copy.deepcopy(model)
    x, x_u = torch.randn(4, 1, 12, 12, 12), 3 + torch.randn(4, 1, 12, 12, 12)
    batch = Batch(x=x, y=torch.randn(4), x_u=x_u)
    loss, parts = VAT(alpha=1.0, ramp_up=0.0, eps=0.5).loss(model, batch, REGRESSION, 0.5)
    assert set(parts) == {"supervised", "consistency"}
    loss.backward()
    reference(torch.cat([x, x_u]))  # the one clean pass that may update them
    for (name, got), (_, want) in zip(model.named_buffers(), reference.named_buffers()):
        assert torch.equal(got, want), name


def test_frozen_batchnorm_stats_restores_and_can_fail() -> None:
    model = network(3).train()
    before = {k: v.clone() for k, v in model.named_buffers()}
    with frozen_batchnorm_stats(model):
        model(5 + torch.randn(4, 1, 12, 12, 12))
        changed = any(not torch.equal(v, before[k]) for k, v in model.named_buffers())
    assert changed, "the pass inside does update (a copy of) the statistics"
    assert all(torch.equal(v, before[k]) for k, v in model.named_buffers())


def test_vat_loss_includes_a_positive_consistency_term() -> None:
    model = network(4).train()
    batch = Batch(torch.randn(4, 1, 12, 12, 12), torch.randn(4), torch.randn(4, 1, 12, 12, 12))
    method = VAT(alpha=1.0, ramp_up=0.0, eps=1.0)
    torch.manual_seed(0)
    supervised, vat_term = method.losses(model, batch, REGRESSION)
    assert vat_term.item() > 0 and vat_term.requires_grad
