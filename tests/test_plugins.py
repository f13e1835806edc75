"""An encoder added as one ``.py`` and one ``.yaml`` enters the encoder suites untouched.

The encoder contract lives in ``tests/test_models.py`` (2-D and 3-D shapes, stages, freezing) and
``tests/test_configs.py`` (every yaml composes with ``debug=smoke`` and builds). Both walk the
options of the ``encoder`` group as the CLI sees them (:func:`tests.conf_options.group_yamls`), so
a user's encoder in ``$TLSWEEP_CONF/encoder/`` is tested the moment it exists. (Methods and
datasets show the same in their own contract suites.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conf_options import run_with_plugins

NEW_ENCODER = '''
    """A plain conv net: three stages of conv, batch norm and ReLU."""

    from __future__ import annotations

    from torch import nn

    from tlsweep.models.base import Encoder


    class PlainNet(Encoder):
        def __init__(self, width: int = 4, spatial_dims: int = 3, in_channels: int = 1) -> None:
            super().__init__()
            conv = {2: nn.Conv2d, 3: nn.Conv3d}[spatial_dims]
            norm = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[spatial_dims]
            widths = [in_channels, width, 2 * width, 4 * width]
            self.stages = nn.ModuleList(
                nn.Sequential(conv(a, b, 3, stride=2, padding=1), norm(b), nn.ReLU())
                for a, b in zip(widths[:-1], widths[1:])
            )
            self.out_features = widths[-1]
    '''


@pytest.mark.slow  # starts processes: the slow tier
def test_a_new_encoder_enters_the_suites_without_editing_a_test(tmp_path: Path) -> None:
    files = {
        "mod/plainnet.py": NEW_ENCODER,
        "conf/encoder/plainnet.yaml": (
            "_target_: plainnet.PlainNet\nwidth: 4\nspatial_dims: 3\nin_channels: 1\n"
        ),
    }
    suites = ["tests/test_models.py", "tests/test_configs.py"]
    assert run_with_plugins(tmp_path, files, suites, "plainnet") == {
        "test_encoder_maps_batch_to_features[plainnet-2]": "passed",
        "test_encoder_maps_batch_to_features[plainnet-3]": "passed",
        "test_freezing_keeps_lowest_stages_bit_identical[plainnet]": "passed",
        "test_encoder_yaml_builds[plainnet]": "passed",
    }
