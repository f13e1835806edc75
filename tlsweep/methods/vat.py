"""``method=vat``: virtual adversarial training (Miyato et al. 2018), labelled + unlabelled images.

No pretraining. Each step adds to the supervised loss a consistency term on unlabelled images:
the divergence between the prediction on an image and on the image plus the small perturbation
(per-voxel RMS ``eps``) that changes the prediction most, found by power iteration
(:func:`~tlsweep.methods.losses.vat_perturbation`, in fp32). KL for classification, squared
error for regression. The perturbed passes leave batch-norm running statistics untouched, so the
evaluation-time network never sees statistics of adversarial inputs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from tlsweep.data.tasks import Task
from tlsweep.errors import ConfigError
from tlsweep.methods.base import SemiSupervised
from tlsweep.methods.losses import consistency, supervised_loss, vat_perturbation
from tlsweep.train.data import Batch


@contextmanager
def frozen_batchnorm_stats(model: nn.Module) -> Iterator[None]:
    """Forward passes inside normalise with batch statistics but leave running statistics alone.

    The running buffers are swapped for copies inside and swapped back on exit, rather than
    restored in place: the clean pass before may have saved them for its backward.
    """
    norms = [m for m in model.modules() if getattr(m, "running_mean", None) is not None]
    saved = [dict(m.named_buffers(recurse=False)) for m in norms]
    for module, buffers in zip(norms, saved):
        for name, value in buffers.items():
            setattr(module, name, value.clone())
    try:
        yield
    finally:
        for module, buffers in zip(norms, saved):
            for name, value in buffers.items():
                setattr(module, name, value)


class VAT(SemiSupervised):
    """Supervised loss plus ``alpha``-weighted, ramped-up virtual adversarial consistency.

    Args:
        alpha: weight of the VAT term once ramped up.
        ramp_up: fraction of training over which the weight rises.
        use_target_unlabelled: also use the target pool's unlabelled subjects.
        xi: power-iteration probe size, per voxel (RMS).
        eps: adversarial perturbation size, per voxel (RMS, in SDs of the z-scored images).
        power_iterations: power-iteration steps.

    Raises:
        ConfigError: for non-positive ``xi``/``eps`` or fewer than one power iteration.
    """

    def __init__(
        self,
        alpha: float = 1.0,
        ramp_up: float = 0.3,
        use_target_unlabelled: bool = False,
        xi: float = 1e-3,
        eps: float = 0.1,
        power_iterations: int = 1,
    ) -> None:
        super().__init__(alpha, ramp_up, use_target_unlabelled)
        if xi <= 0 or eps <= 0:
            raise ConfigError(f"method.xi={xi}, method.eps={eps}: both must be > 0")
        if power_iterations < 1:
            raise ConfigError(f"method.power_iterations={power_iterations}: must be >= 1")
        self.xi, self.eps, self.power_iterations = xi, eps, power_iterations

    def losses(
        self, model: nn.Module, batch: Batch, task: Task
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Supervised loss on ``x``; divergence between clean and adversarial ``x_u``."""
        n = len(batch.x)
        out = model(torch.cat([batch.x, batch.x_u]))  # one pass: batch norm sees both
        clean = out[n:].detach()

        def divergence(perturbed: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
            return consistency(perturbed, reference, task)

        with frozen_batchnorm_stats(model):
            r = vat_perturbation(
                model,
                batch.x_u,
                clean,
                divergence,
                xi=self.xi,
                eps=self.eps,
                power_iterations=self.power_iterations,
            )
            adversarial = model(batch.x_u + r)
        return supervised_loss(out[:n], batch.y, task), divergence(adversarial, clean)
