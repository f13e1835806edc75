"""The options of a config group as the CLI sees them: the packaged yamls, then the user's.

Contract suites parametrise over :func:`group_yamls`, never over a hand-kept list, so an option
added as one yaml (in ``tlsweep/conf/<group>/`` or in ``$TLSWEEP_CONF/<group>/`` / ``./conf``)
enters every test of its group without a test being edited.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

from hydra_plugins.tlsweep_searchpath.searchpath import user_conf_dir

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "tlsweep" / "conf"


def group_yamls(group: str) -> dict[str, Path]:
    """``{option: yaml path}`` of ``group``; packaged options win over user ones."""
    folders = [PACKAGED / group]
    user = user_conf_dir()
    if user is not None:
        folders.append(user / group)
    found: dict[str, Path] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            if path.stem.startswith("_"):  # a shared base (hpo/_base.yaml), not an option
                continue
            found.setdefault(path.stem, path)
    return found


def run_with_plugins(
    tmp_path: Path, files: dict[str, str], tests: list[str], keyword: str
) -> dict[str, str]:
    """Run ``tests`` (``-k keyword``) with user files added; ``{test name: outcome}``.

    Args:
        tmp_path: where the files go: ``mod/...`` is put on ``PYTHONPATH`` and ``conf/...``
            is the user's conf (``TLSWEEP_CONF``), as a user would add a plugin.
        files: relative path -> text (dedented).
        tests: pytest paths, relative to the repository.
        keyword: pytest ``-k`` expression selecting the plugins' cases.

    Returns:
        ``passed``, ``failed`` or ``skipped`` per test case, from pytest's junit report.
    """
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(textwrap.dedent(text).lstrip())
    report = tmp_path / "report.xml"
    path = os.pathsep.join(filter(None, [str(tmp_path / "mod"), os.environ.get("PYTHONPATH")]))
    subprocess.run(
        [sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider"]
        + ["-k", keyword, f"--junitxml={report}"],
        cwd=ROOT,
        env={**os.environ, "TLSWEEP_CONF": str(tmp_path / "conf"), "PYTHONPATH": path},
        capture_output=True,
        timeout=600,
    )
    found = {}
    for case in ET.parse(report).iter("testcase"):
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        found[case.get("name")] = "skipped" if skipped else "failed" if failed else "passed"
    return found
