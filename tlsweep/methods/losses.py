"""Losses as pure functions: supervised, contrastive (NT-Xent, y-aware), consistency and VAT."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from tlsweep.data.tasks import Task

log = logging.getLogger(__name__)

REGRESSION_LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "huber": F.smooth_l1_loss}


def supervised_loss(output: torch.Tensor, target: torch.Tensor, task: Task) -> torch.Tensor:
    """Cross-entropy for classification; for regression (standardised targets) the task's loss.

    Args:
        output: raw head output (B, out_features).
        target: class indices (B,) or standardised values (B,).
        task: decides the loss; ``loss: auto`` means cross-entropy or MSE.
    """
    if task.is_classification:
        return F.cross_entropy(output.float(), target)
    name = "mse" if task.loss == "auto" else task.loss
    return REGRESSION_LOSSES[name](output.float()[:, 0], target)


# --- self-supervised and consistency losses ---------------------------------------------------


def nt_xent(
    z1: torch.Tensor, z2: torch.Tensor, temperature: float, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """SimCLR's NT-Xent loss of two views, optionally with y-aware positive weights.

    With ``z = [z1; z2]`` (2N rows, L2-normalised) and ``s_ik = z_i·z_k / temperature``, the loss
    is the mean over anchors i of ``-Σ_{j≠i} w_ij log(exp s_ij / Σ_{k≠i} exp s_ik)``.

    Args:
        z1: projections of the first views (N, dim).
        z2: projections of the second views (N, dim); row i is the same sample as in ``z1``.
        temperature: softmax temperature τ.
        weights: (2N, 2N) positive weights with zero diagonal and rows summing to 1, e.g.
            :func:`yaware_weights`; None means plain SimCLR (each view's only positive is the
            other view of its sample).

    Returns:
        The scalar loss.
    """
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    n2 = z.shape[0]
    self_mask = torch.eye(n2, dtype=torch.bool, device=z.device)
    logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))
    log_prob = torch.log_softmax(logits, dim=1).masked_fill(self_mask, 0.0)
    if weights is None:
        weights = torch.roll(torch.eye(n2, device=z.device), n2 // 2, dims=1)
    return -(weights.to(log_prob) * log_prob).sum(1).mean()


def yaware_weights(y: torch.Tensor, sigma: float) -> torch.Tensor:
    """Positive weights of y-aware NT-Xent (Dufumier et al. 2021) for a batch of two views.

    ``w_ij ∝ exp(-(y_i - y_j)² / 2σ²)`` over ``[y; y]`` without the diagonal, rows normalised, so
    samples with similar meta-variable values (e.g. age) count as partial positives. σ = 0 gives
    plain SimCLR's weights (a sample's other view only).

    Args:
        y: the meta-variable of the N samples (N,), in its own units.
        sigma: kernel bandwidth, in the units of ``y``.

    Returns:
        (2N, 2N) weights for :func:`nt_xent`.
    """
    n2 = 2 * y.shape[0]
    eye = torch.eye(n2, dtype=torch.bool, device=y.device)
    if sigma <= 0:
        return torch.roll(eye.float(), n2 // 2, dims=1)
    yy = torch.cat([y, y]).float()
    kernel = torch.exp(-((yy[:, None] - yy[None, :]) ** 2) / (2 * sigma**2))
    kernel = kernel.masked_fill(eye, 0.0)
    return kernel / kernel.sum(1, keepdim=True)


def consistency(output: torch.Tensor, target: torch.Tensor, task: Task) -> torch.Tensor:
    """Divergence of ``output`` from ``target`` (raw head outputs, (B, out_features)).

    KL(softmax(target) ‖ softmax(output)) for classification, batch mean; squared error summed
    over outputs, batch mean, for regression. Gradients flow into both arguments; detach
    ``target`` to make it a fixed target.
    """
    if task.is_classification:
        return F.kl_div(
            torch.log_softmax(output.float(), 1),
            torch.log_softmax(target.float(), 1),
            log_target=True,
            reduction="batchmean",
        )
    return (output.float() - target.float()).pow(2).sum(1).mean()


def _unit(d: torch.Tensor) -> torch.Tensor:
    """Scale each sample of ``d`` to unit L2 norm over all its non-batch dimensions."""
    norm = d.flatten(1).norm(dim=1).clamp_min(1e-12)
    return d / norm.view(-1, *[1] * (d.ndim - 1))


def vat_perturbation(
    model: torch.nn.Module,
    x: torch.Tensor,
    clean: torch.Tensor,
    divergence: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    xi: float,
    eps: float,
    power_iterations: int = 1,
) -> torch.Tensor:
    """Virtual adversarial perturbation of ``x`` (Miyato et al. 2018), in fp32.

    Power iteration from a random direction d: ``d ← ∇_d D(f(x + ξ d), f(x))``, normalised per
    sample over all non-batch dimensions (so 5-D volumes are handled like images). Both ``xi``
    and ``eps`` are per-voxel RMS sizes: the perturbation's L2 norm is ``eps·√(C·D·H·W)``, so one
    ``eps`` means the same at any resolution. Autocast is off here (a small ξ underflows in
    bf16), and ξ must still move the output well above float32 rounding: behind global average
    pooling a random direction barely moves it, and ξ = 1e-6 per voxel gives an exactly zero
    gradient even in fp32 for an untrained tiny3d (1e-3 works; see ``tests/methods/test_vat.py``).
    A sample whose gradient is exactly zero gets no perturbation, and a warning is logged.
    The caller keeps batch-norm running statistics out of these passes (see
    :func:`tlsweep.methods.vat.frozen_batchnorm_stats`); parameter gradients are not touched.

    Args:
        model: the network, in the mode the loss uses it.
        x: inputs ``(B, C, *spatial)``.
        clean: ``model(x)``, detached.
        divergence: ``(perturbed_output, clean_output) -> scalar``.
        xi: probe size of the power iteration, per voxel.
        eps: size of the returned perturbation, per voxel.
        power_iterations: number of power-iteration steps (1 is the usual).

    Returns:
        The perturbation r (same shape as ``x``, no gradient), ``‖r_b‖ = eps·√(C·D·H·W)``.
    """
    scale = math.sqrt(x[0].numel())
    x = x.detach().float()
    clean = clean.detach().float()
    d = _unit(torch.randn_like(x))
    with torch.autocast(x.device.type, enabled=False):
        for _ in range(power_iterations):
            d.requires_grad_(True)
            distance = divergence(model(x + xi * scale * d), clean)
            (grad,) = torch.autograd.grad(distance, d)
            d = _unit(grad.detach())
    dead = int((d.flatten(1).abs().amax(1) == 0).sum())
    if dead:
        log.warning(
            "VAT: zero power-iteration gradient in %d of %d samples; raise xi", dead, len(d)
        )
    return eps * scale * d


def ramp_up(progress: float, length: float) -> float:
    """Sigmoid ramp-up ``exp(-5 (1 - t)²)``, t = progress / length clipped to 1 (Laine & Aila).

    Args:
        progress: fraction of training done, in [0, 1].
        length: fraction of training over which the weight rises; 0 = full weight at once.
    """
    if length <= 0:
        return 1.0
    t = min(1.0, max(0.0, progress / length))
    return math.exp(-5.0 * (1.0 - t) ** 2)
