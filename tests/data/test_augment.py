"""Batched device augmentations: identity settings, per-sample randomness, blur, flips, cutout."""

from __future__ import annotations

import pytest
import torch

from tlsweep.data.augment import (
    Augment,
    RandomWarp,
    affine_ddf,
    cutout,
    from_settings,
    gaussian_blur,
    random_flip,
)
from tlsweep.errors import ConfigError


def brain(b: int = 2, shape: tuple[int, ...] = (16, 18, 14)) -> torch.Tensor:
    """A smooth blob (zero outside), like a skull-stripped, z-scored volume."""
    axes = [torch.linspace(-1, 1, n) for n in shape]
    r2 = sum(g**2 for g in torch.meshgrid(*axes, indexing="ij"))
    x = torch.where(r2 < 0.6, 1 + torch.cos(3 * r2), torch.zeros(()))
    return x.expand(b, 1, *shape).clone()


def test_zero_warp_is_the_identity() -> None:
    x = torch.randn(2, 1, 10, 12, 14)
    still = RandomWarp(rotate_deg=0, scale=0, translate=0, warp_std=0)
    assert torch.allclose(still(x), x, atol=1e-5)
    assert torch.equal(affine_ddf(x, 0.0, 0.0, 0.0), torch.zeros(2, 3, 10, 12, 14))


@pytest.mark.parametrize("shape", [(16, 18, 14), (20, 22)])
def test_views_keep_shape_and_differ_per_sample(shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    x = brain(3, shape)
    augment = Augment(flip_axes=[0, 1])
    view = augment(x)
    assert view.shape == x.shape and view.dtype == torch.float32 and torch.isfinite(view).all()
    assert not torch.allclose(view[0], view[1]) and not torch.allclose(view, augment(x))


def test_warp_moves_the_image_by_about_the_configured_amount() -> None:
    torch.manual_seed(1)
    x = brain(8)
    small = (RandomWarp(rotate_deg=0, scale=0, translate=0, warp_std=0.01)(x) - x).abs().mean()
    large = (RandomWarp(rotate_deg=0, scale=0, translate=0, warp_std=0.05)(x) - x).abs().mean()
    assert 0 < small < large


def test_per_sample_blur_matches_monai_gaussian_filter() -> None:
    from monai.networks.layers import GaussianFilter

    x = torch.randn(2, 1, 15, 15, 15)
    blurred = gaussian_blur(x, torch.tensor([1.0, 0.0]))
    reference = GaussianFilter(3, 1.0, truncated=3.0, approx="sampled")(x[:1])
    inner = (slice(None), slice(None), *[slice(3, -3)] * 3)
    # MONAI normalises its sampled kernel slightly differently (0.1 %)
    assert torch.allclose(blurred[:1][inner], reference[inner], rtol=2e-3, atol=1e-4)
    assert torch.equal(blurred[1], x[1]), "sigma 0 leaves its sample unchanged"


def test_flip_and_cutout_extremes() -> None:
    x = torch.randn(2, 1, 6, 7, 8)
    assert torch.equal(random_flip(x, [1], prob=1.0), x.flip(3))
    assert torch.equal(random_flip(x, [1], prob=0.0), x)
    assert torch.equal(cutout(x, prob=0.0, size=0.5), x)
    holed = cutout(x, prob=1.0, size=0.9)
    assert all((holed[i] == 0).any() for i in range(2))


def test_unknown_settings_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="warp_sd.*did you mean 'warp_std'"):
        from_settings(Augment, {"warp": {"warp_sd": 0.1}}, "method.augment")
    with pytest.raises(ConfigError, match="method.augment.nois_std"):
        from_settings(Augment, {"nois_std": 0.1}, "method.augment")
    with pytest.raises(ConfigError, match="control_points"):
        RandomWarp(control_points=1)
