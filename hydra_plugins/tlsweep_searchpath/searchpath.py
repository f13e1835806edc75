"""Search-path plugin: ``$TLSWEEP_CONF`` or ``./conf`` joins tlsweep's config search path.

Users keep their presets (experiments, cluster launchers, data paths) in a ``conf/`` folder next
to where they run ``tlsweep``, or wherever ``TLSWEEP_CONF`` points, without editing the package.
The folder is appended, so it adds options and never silently shadows a packaged one. Every Hydra
app loads every installed plugin, so this one acts only when tlsweep's own configs are on the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin


def user_conf_dir() -> Path | None:
    """``$TLSWEEP_CONF`` if set, else ``./conf`` if it exists."""
    configured = os.environ.get("TLSWEEP_CONF")
    if configured:
        return Path(configured).expanduser().resolve()
    local = Path.cwd() / "conf"
    return local.resolve() if local.is_dir() else None


class TlsweepSearchPathPlugin(SearchPathPlugin):
    """Append the user's config folder when the app is tlsweep."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        is_tlsweep = any(
            "tlsweep" in str(e.path) and e.path.rstrip("/").endswith("conf")
            for e in search_path.get_path()
            if e.provider == "main"
        )
        folder = user_conf_dir()
        if is_tlsweep and folder is not None:
            search_path.append(provider="tlsweep-user", path=f"file://{folder}")
