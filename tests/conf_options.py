"""The options of a config group as the CLI sees them: the packaged yamls, then the user's.

Contract suites parametrise over :func:`group_yamls`, never over a hand-kept list, so an option
added as one yaml (in ``tlsweep/conf/<group>/`` or in ``$TLSWEEP_CONF/<group>/`` / ``./conf``)
enters every test of its group without a test being edited.
"""

from __future__ import annotations

from pathlib import Path

from hydra_plugins.tlsweep_searchpath.searchpath import user_conf_dir

PACKAGED = Path(__file__).resolve().parents[1] / "tlsweep" / "conf"


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
