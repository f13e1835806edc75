"""An encoder added as one ``.py`` and one ``.yaml`` enters the encoder suites untouched.

The encoder contract lives in ``tests/test_models.py`` (2-D and 3-D shapes, stages, freezing) and
``tests/test_configs.py`` (every yaml composes with ``debug=smoke`` and builds). Both walk the
options of the ``encoder`` group as the CLI sees them (:func:`tests.conf_options.group_yamls`), so
a user's encoder in ``$TLSWEEP_CONF/encoder/`` is tested the moment it exists. (Methods and
datasets show the same in their own contract suites.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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


def outcomes(report: Path) -> dict[str, str]:
    """``{test name: passed/failed/skipped}`` from a junit xml report."""
    found = {}
    for case in ET.parse(report).iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        found[case.get("name")] = "skipped" if skipped else "failed" if failed else "passed"
    return found


def test_a_new_encoder_enters_the_suites_without_editing_a_test(tmp_path: Path) -> None:
    (tmp_path / "mod").mkdir()
    (tmp_path / "mod" / "plainnet.py").write_text(textwrap.dedent(NEW_ENCODER).lstrip())
    (tmp_path / "conf" / "encoder").mkdir(parents=True)
    (tmp_path / "conf" / "encoder" / "plainnet.yaml").write_text(
        "_target_: plainnet.PlainNet\nwidth: 4\nspatial_dims: 3\nin_channels: 1\n"
    )
    report = tmp_path / "report.xml"
    path = os.pathsep.join(filter(None, [str(tmp_path / "mod"), os.environ.get("PYTHONPATH")]))
    subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_models.py", "tests/test_configs.py"]
        + ["-q", "-p", "no:cacheprovider", "-k", "plainnet", f"--junitxml={report}"],
        cwd=ROOT,
        env={**os.environ, "TLSWEEP_CONF": str(tmp_path / "conf"), "PYTHONPATH": path},
        capture_output=True,
        timeout=600,
    )
    assert outcomes(report) == {
        "test_encoder_maps_batch_to_features[plainnet-2]": "passed",
        "test_encoder_maps_batch_to_features[plainnet-3]": "passed",
        "test_freezing_keeps_lowest_stages_bit_identical[plainnet]": "passed",
        "test_encoder_yaml_builds[plainnet]": "passed",
    }
