"""NT-Xent (plain and y-aware), consistency and ramp-up against naive reference versions."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tlsweep.data.tasks import Task
from tlsweep.methods.losses import consistency, nt_xent, ramp_up, yaware_weights


def naive_weights(y: list[float], sigma: float) -> list[list[float]]:
    """w_ij = K(y_i, y_j) / Σ_{k≠i} K(y_i, y_k) over the 2N views; plain SimCLR for σ = 0."""
    yy, n2 = y + y, 2 * len(y)
    rows = []
    for i in range(n2):
        if sigma == 0:
            rows.append([1.0 if j == (i + n2 // 2) % n2 else 0.0 for j in range(n2)])
            continue
        k = [math.exp(-((yy[i] - yy[j]) ** 2) / (2 * sigma**2)) for j in range(n2)]
        k[i] = 0.0
        rows.append([v / sum(k) for v in k])
    return rows


def naive_nt_xent(z1: torch.Tensor, z2: torch.Tensor, t: float, w: list[list[float]]) -> float:
    """Loop over anchors: -Σ_j w_ij log(exp(s_ij) / Σ_{k≠i} exp(s_ik)), averaged."""
    z = [F.normalize(v, dim=0) for v in torch.cat([z1, z2]).double()]
    total = 0.0
    for i in range(len(z)):
        sims = [float(z[i] @ z[k]) / t for k in range(len(z))]
        denominator = sum(math.exp(s) for k, s in enumerate(sims) if k != i)
        for j in range(len(z)):
            if j != i and w[i][j]:
                total -= w[i][j] * math.log(math.exp(sims[j]) / denominator)
    return total / len(z)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_matches_naive_loop(temperature: float) -> None:
    torch.manual_seed(0)
    z1, z2 = torch.randn(6, 5), torch.randn(6, 5)
    expected = naive_nt_xent(z1, z2, temperature, naive_weights([0.0] * 6, 0.0))
    assert nt_xent(z1, z2, temperature).item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("sigma", [0.0, 2.0, 10.0])
def test_yaware_nt_xent_matches_naive_loop(sigma: float) -> None:
    torch.manual_seed(1)
    y = [20.0, 23.5, 40.0, 41.0, 70.0]
    z1, z2 = torch.randn(5, 4), torch.randn(5, 4)
    weights = yaware_weights(torch.tensor(y), sigma)
    assert weights.tolist() == pytest.approx(
        [pytest.approx(row, abs=1e-6) for row in naive_weights(y, sigma)]
    )
    expected = naive_nt_xent(z1, z2, 0.2, naive_weights(y, sigma))
    assert nt_xent(z1, z2, 0.2, weights).item() == pytest.approx(expected, rel=1e-5)


def test_sigma_zero_is_plain_simclr_and_large_sigma_differs() -> None:
    torch.manual_seed(2)
    y = torch.tensor([20.0, 30.0, 60.0, 80.0])
    z1, z2 = torch.randn(4, 8), torch.randn(4, 8)
    plain = nt_xent(z1, z2, 0.1)
    assert nt_xent(z1, z2, 0.1, yaware_weights(y, 0.0)).item() == pytest.approx(plain.item())
    assert nt_xent(z1, z2, 0.1, yaware_weights(y, 50.0)).item() != pytest.approx(plain.item())


def test_nt_xent_is_low_for_matching_views() -> None:
    torch.manual_seed(3)
    z = torch.randn(8, 16)
    assert nt_xent(z, z + 0.01 * torch.randn(8, 16), 0.1) < nt_xent(z, torch.randn(8, 16), 0.1)


def test_consistency_regression_is_squared_error_and_classification_is_kl() -> None:
    a, b = torch.randn(4, 1), torch.randn(4, 1)
    regression = Task("target_task", "age", "regression")
    assert consistency(a, b, regression).item() == pytest.approx(F.mse_loss(a, b).item())
    classification = Task("source_task", "sex", "classification", classes=["F", "M"])
    p, q = torch.randn(4, 2), torch.randn(4, 2)
    kl = (p.softmax(1) * (p.log_softmax(1) - q.log_softmax(1))).sum(1).mean()
    assert consistency(q, p, classification).item() == pytest.approx(kl.item(), rel=1e-5)
    assert consistency(p, p, classification).item() == pytest.approx(0.0, abs=1e-7)


def test_ramp_up_rises_to_one() -> None:
    values = [ramp_up(p, 0.4) for p in (0.0, 0.1, 0.2, 0.4, 0.9)]
    assert values[0] == pytest.approx(math.exp(-5))
    assert values == sorted(values) and values[-2:] == [1.0, 1.0]
    assert ramp_up(0.0, 0.0) == 1.0
