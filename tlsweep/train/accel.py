"""Speed switches of the training loop: cuDNN autotuning, channels-last memory, torch.compile.

Each is a ``train.*`` key (:class:`tlsweep.schemas.TrainConfig`), off by default until a
measurement (``benchmarks/throughput.py``) shows it faster on the hardware at hand:

- ``train.cudnn_benchmark``: ``torch.backends.cudnn.benchmark`` on CUDA, so cuDNN times its
  convolution algorithms on the first batch of each shape and keeps the fastest. The chosen
  algorithm may differ between runs, so it is refused together with ``train.deterministic``.
  Ignored on CPU.
- ``train.channels_last``: the network's convolution weights and every batch in channels-last
  order (``channels_last_3d`` for volumes, ``channels_last`` for 2D images), which lets cuDNN use
  its NDHWC kernels. Numerically the same network; on CPU 1.3–1.6× faster for tiny3d and ~0.85× for
  ResNet-18 (reports/throughput-cpu.md).
- ``train.compile``: :meth:`torch.nn.Module.compile` in place, so ``state_dict`` keys, checkpoints
  and attributes such as ``model.encoder`` are unchanged. The first steps pay the compilation.

Call :func:`prepare_model` once, after the model is on its device and before the optimiser is
built, and :func:`prepare_batch` on every batch before the forward pass.

:func:`set_deterministic` replaces ``torch.use_deterministic_algorithms`` for trial start-up:
the torch call imports ``torch._inductor`` (and with it dynamo and sympy, ~2.7 CPU s) only to set
inductor's own flag, which matters only for a compiled model; :func:`prepare_model` sets that
flag when it compiles.
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import Any

import torch
from torch import nn

from tlsweep.errors import ConfigError
from tlsweep.train.data import Batch

log = logging.getLogger(__name__)

# memory format by tensor rank: (B, C, H, W) images and (B, C, D, H, W) volumes
CHANNELS_LAST = {4: torch.channels_last, 5: torch.channels_last_3d}


def check_settings(settings: Any) -> None:
    """Reject switch combinations that cannot hold.

    Raises:
        ConfigError: ``train.cudnn_benchmark=true`` together with ``train.deterministic=true``.
    """
    if getattr(settings, "cudnn_benchmark", False) and getattr(settings, "deterministic", False):
        raise ConfigError(
            "train.cudnn_benchmark=true: cuDNN autotuning picks algorithms by timing, so results "
            "are not reproducible; set train.deterministic=false with it"
        )


def prepare_model(model: nn.Module, settings: Any, device: torch.device) -> nn.Module:
    """Apply the switches in ``settings`` to ``model`` (already on ``device``), in place.

    Args:
        model: the network to train.
        settings: ``train`` settings with ``cudnn_benchmark``, ``channels_last``, ``compile``
            (missing keys count as off, so a method's pretraining settings work too).
        device: the training device.

    Returns:
        The same module object, compiled in place, with its 4-D/5-D weights in channels-last
        order if asked.

    Raises:
        ConfigError: as :func:`check_settings`.
    """
    check_settings(settings)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = bool(getattr(settings, "cudnn_benchmark", False))
    if getattr(settings, "channels_last", False):
        to_channels_last(model)
    if getattr(settings, "compile", False):
        import torch._inductor.config as inductor_config

        inductor_config.deterministic = torch.are_deterministic_algorithms_enabled()
        model.compile()
        log.info("torch.compile: the first steps include compilation")
    return model


def set_deterministic(mode: bool, warn_only: bool = True) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=...)`` without importing inductor.

    Inductor's flag is set too when inductor is loaded already; otherwise :func:`prepare_model`
    sets it before compiling.
    """
    if "torch._inductor.config" in sys.modules:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
        return
    torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)


def to_channels_last(model: nn.Module) -> None:
    """Put every 4-D and 5-D parameter and buffer of ``model`` in channels-last order."""
    with torch.no_grad():
        for tensor in (*model.parameters(), *model.buffers()):
            fmt = CHANNELS_LAST.get(tensor.dim())
            if fmt is not None:
                tensor.data = tensor.data.contiguous(memory_format=fmt)


def prepare_batch(batch: Batch, settings: Any) -> Batch:
    """The batch in the memory order ``settings`` asks for (unchanged when all switches are off).

    Args:
        batch: images ``x`` ``(B, C, *spatial)``, targets ``y``, optional unlabelled ``x_u``.
        settings: ``train`` settings; only ``channels_last`` concerns batches.

    Returns:
        ``batch`` itself, or a new :class:`Batch` with ``x`` and ``x_u`` in channels-last order.
    """
    if not getattr(settings, "channels_last", False):
        return batch
    return dataclasses.replace(batch, x=channels_last(batch.x), x_u=channels_last(batch.x_u))


def channels_last(x: torch.Tensor | None) -> torch.Tensor | None:
    """``x`` in channels-last order for its rank; other ranks and None pass through."""
    if x is None or x.dim() not in CHANNELS_LAST:
        return x
    return x.contiguous(memory_format=CHANNELS_LAST[x.dim()])
