"""Speed switches (tlsweep.train.accel) and where a subset's images are held (tlsweep.train.data).

Each switch changes the model or batch as documented and training still gives the same numbers
within float tolerance; a memory-mapped subset gives exactly the batches of a held one.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from tlsweep.data.nifti import Cohort
from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError
from tlsweep.models.base import Head, Network
from tlsweep.models.tiny3d import Tiny3D
from tlsweep.train import data as data_module
from tlsweep.train.accel import prepare_batch, prepare_model
from tlsweep.train.data import Batch, MappedRows, Subset, batches
from tlsweep.train.evaluate import predict
from tlsweep.train.loop import Objective, TrainSettings, fit

CPU = torch.device("cpu")


def switches(**kw: object) -> SimpleNamespace:
    base = dict(deterministic=True, cudnn_benchmark=False, channels_last=False, compile=False)
    return SimpleNamespace(**{**base, **kw})


def network(seed: int = 0) -> Network:
    torch.manual_seed(seed)
    encoder = Tiny3D(channels=[4, 8], spatial_dims=3, in_channels=1)
    return Network(encoder, Head(encoder.out_features, 1))


def subset(n: int = 12) -> Subset:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(n, 12, 12, 12, generator=g)
    return Subset(images.half(), images.mean((1, 2, 3)) * 10, [f"s{i}" for i in range(n)])


def train(on: dict) -> tuple[Network, list[float]]:
    """Two epochs through the real loop, with the switches applied as the loop will apply them."""
    cfg = switches(**on)
    model = prepare_model(network(), cfg, CPU)

    def loss(net: torch.nn.Module, batch: Batch, progress: float) -> torch.Tensor:
        batch = prepare_batch(batch, cfg)
        return torch.nn.functional.mse_loss(net(batch.x)[:, 0], batch.y)

    settings = TrainSettings(epochs=2, batch_size=4, lr=3e-3, weight_decay=0.0, amp=False)
    result = fit(model, loss, subset(), lambda net: {"val/x": 0.0}, settings, Objective("val/x"))
    return model, [h["train/loss"] for h in result.history]


def test_channels_last_changes_layout_not_numbers() -> None:
    model = prepare_model(network(), switches(channels_last=True), CPU)
    conv = [p for p in model.parameters() if p.dim() == 5]
    assert conv and all(p.is_contiguous(memory_format=torch.channels_last_3d) for p in conv)
    mixed = [p for p in network().parameters() if p.dim() == 5 and p.shape[1] > 1]
    assert mixed and not any(p.is_contiguous(memory_format=torch.channels_last_3d) for p in mixed)
    batch = Batch(torch.randn(2, 3, 4, 5, 6), torch.zeros(2), torch.randn(2, 3, 4, 5, 6))
    moved = prepare_batch(batch, switches(channels_last=True))
    assert moved.x.is_contiguous(memory_format=torch.channels_last_3d)
    assert moved.x_u.is_contiguous(memory_format=torch.channels_last_3d)
    assert torch.equal(moved.x, batch.x)
    assert prepare_batch(batch, switches()) is batch  # switches off: untouched

    plain, losses = train({})
    fast, fast_losses = train({"channels_last": True})
    assert np.allclose(losses, fast_losses, rtol=1e-4, atol=1e-5)
    # one step: the same gradients up to float reordering
    grads = []
    for on in (False, True):
        model, batch = network(), Batch(subset().images[:4].float().unsqueeze(1), torch.ones(4))
        prepare_model(model, switches(channels_last=on), CPU)
        batch = prepare_batch(batch, switches(channels_last=on))
        torch.nn.functional.mse_loss(model(batch.x)[:, 0], batch.y).backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)
    # after training, through predictions: AdamW scales the ~0 gradient of a conv bias before
    # batch norm up to a full step, so weights drift in float noise; outputs stay close
    probe = subset(6)
    assert np.allclose(predict(plain, probe, CPU), predict(fast, probe, CPU), atol=3e-3)


def test_cudnn_benchmark_refused_with_deterministic() -> None:
    with pytest.raises(ConfigError, match="train.cudnn_benchmark=true.*train.deterministic"):
        prepare_model(network(), switches(cudnn_benchmark=True), CPU)
    before = torch.backends.cudnn.benchmark
    prepare_model(network(), switches(cudnn_benchmark=True, deterministic=False), CPU)
    assert torch.backends.cudnn.benchmark == before  # CPU: not touched


@pytest.mark.gpu
def test_cudnn_benchmark_set_on_cuda() -> None:
    device = torch.device("cuda")
    switched = switches(cudnn_benchmark=True, deterministic=False)
    prepare_model(network().to(device), switched, device)
    assert torch.backends.cudnn.benchmark
    prepare_model(network().to(device), switches(), device)
    assert not torch.backends.cudnn.benchmark


@pytest.mark.slow
def test_compile_in_place_keeps_keys_and_numbers() -> None:
    model = prepare_model(network(), switches(compile=True), CPU)
    assert model._compiled_call_impl is not None  # compiled in place: same object, same keys
    import torch._inductor.config as inductor_config

    assert inductor_config.deterministic == torch.are_deterministic_algorithms_enabled()
    assert list(model.state_dict()) == list(network().state_dict())
    _, losses = train({})
    _, compiled = train({"compile": True})
    assert np.allclose(losses, compiled, rtol=1e-3, atol=1e-5)


def test_set_deterministic_skips_inductor() -> None:
    code = (
        "import sys, torch\n"
        "from tlsweep.train.accel import set_deterministic\n"
        "set_deterministic(True, warn_only=True)\n"
        "assert torch.are_deterministic_algorithms_enabled()\n"
        "assert torch.is_deterministic_algorithms_warn_only_enabled()\n"
        "print('torch._inductor' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def cohort(tmp_path: Path, n: int = 10) -> Cohort:
    rng = np.random.default_rng(0)
    np.save(tmp_path / "images.npy", rng.standard_normal((n, 6, 7, 5)).astype(np.float16))
    table = pd.DataFrame({"age": rng.uniform(20, 80, n)}, index=[f"p{i}" for i in range(n)])
    return Cohort(table=table, images=np.load(tmp_path / "images.npy", mmap_mode="r"))


def test_memory_mapped_and_held_give_identical_batches(tmp_path: Path) -> None:
    source = cohort(tmp_path)
    ids = ["p7", "p2", "p5", "p0", "p9", "p3", "p4"]
    task = Task("target_task", column="age", type="regression")
    task.fit_scaler(source.table.loc[ids, "age"])
    held = Subset.from_cohort(source, ids, task, in_memory=True)
    mapped = Subset.from_cohort(source, ids, task, in_memory=False)
    assert isinstance(held.images, torch.Tensor) and isinstance(mapped.images, MappedRows)
    assert torch.equal(held.images[3], torch.from_numpy(np.array(source.images[0])))
    unlabelled = Subset.from_cohort(source, ["p1", "p6", "p8"], in_memory=False)
    runs = [
        list(batches(s, 3, torch.Generator().manual_seed(1), CPU, unlabelled))
        for s in (held, mapped)
    ]
    assert len(runs[0]) == len(runs[1]) == math.ceil(7 / 3) - 1  # the 1-sample batch dropped
    for a, b in zip(*runs):
        assert a.x.shape == (3, 1, 6, 7, 5) and a.x.dtype == torch.float32
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.x_u, b.x_u)
    model = Network(Tiny3D(channels=[2], spatial_dims=3, in_channels=1), Head(2, 1))
    assert np.array_equal(predict(model, held, CPU, 4), predict(model, mapped, CPU, 4))


def test_held_rows_are_reused_and_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = cohort(tmp_path)
    first = Subset.from_cohort(source, ["p1", "p2"])
    reopened = Cohort(source.table, np.load(tmp_path / "images.npy", mmap_mode="r"))
    again = Subset.from_cohort(reopened, ["p1", "p2"])  # a later trial maps the file afresh
    other = Subset.from_cohort(source, ["p2", "p1"])
    assert again.images is first.images
    assert other.images is not first.images and torch.equal(other.images[0], first.images[1])
    row_bytes = 6 * 7 * 5 * 2
    monkeypatch.setattr(data_module, "available_memory", lambda: 5 * row_bytes)  # budget: 2.5
    Subset.from_cohort(source, ["p3", "p4"])
    assert sum(t.nbytes for t in data_module._held.values()) <= 2.5 * row_bytes
    assert Subset.from_cohort(source, ["p1", "p2"]).images is not first.images  # evicted
