"""On CUDA: bf16 autocast training and the VAT power iteration (skipped without a GPU)."""

from __future__ import annotations

import math

import pytest

from tlsweep.run import run


@pytest.mark.gpu
@pytest.mark.parametrize("method", ["scratch", "simclr", "vat"])
def test_smoke_run_on_cuda_with_autocast(make_cfg, method: str) -> None:
    cfg = make_cfg(f"method={method}", "debug=smoke", "train.device=cuda", "train.amp=true")
    assert math.isfinite(run(cfg))
