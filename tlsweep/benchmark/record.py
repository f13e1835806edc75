"""A cell's recorded identity: written once into its folder and its study, checked on every rerun.

``<cell>/cell.yaml`` holds the cell's name, the full hash of its identity, its variant and the
identity itself; the cell's Optuna study carries the same hash as a user attribute. A sweep
that would run a cell in a folder or a study recorded under another identity (a copied folder,
a study name or storage pointed at an existing study, an edited preset behind the same name) is
refused in one line naming up to three changed keys, before anything is queued.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from tlsweep.benchmark.identity import cell_identity, config_hash, differences, variant
from tlsweep.benchmark.layout import CELL_FILE
from tlsweep.errors import ConfigError

HASH_ATTR, IDENTITY_ATTR = "tlsweep:config_hash", "tlsweep:identity"


def cell_record(name: str, config: DictConfig) -> dict[str, Any]:
    """What ``cell.yaml`` holds for the cell ``name`` composed as ``config``."""
    identity = cell_identity(config)
    return {
        "name": name,
        "config_hash": config_hash(identity),
        "variant": variant(config),
        "identity": identity,
    }


def claim_folder(folder: Path, record: Mapping[str, Any]) -> None:
    """Write ``folder/cell.yaml``, or check that the one there records the same identity.

    Raises:
        ConfigError: the folder belongs to another configuration.
    """
    path = folder / CELL_FILE
    if path.is_file():
        old = yaml.safe_load(path.read_text()) or {}
        if old.get("config_hash") != record["config_hash"]:
            changed = differences(old.get("identity") or {}, record["identity"])
            raise ConfigError(
                f"{folder} holds cell {record['name']} of another configuration ({changed}); "
                "nothing was run: use another hydra.sweep.dir, or delete that folder to start "
                "fresh"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{CELL_FILE}.{os.getpid()}.tmp")
    tmp.write_text(yaml.safe_dump(dict(record), sort_keys=False))
    tmp.replace(path)


def check_study(attrs: Mapping[str, Any], record: Mapping[str, Any], study: str) -> dict[str, str]:
    """Check a study's recorded identity; return the attributes to record (none if present).

    Args:
        attrs: the study's user attributes.
        record: the cell's :func:`cell_record`.
        study: the study's name and storage, for the message.

    Raises:
        ConfigError: the study was tuned under another configuration.
    """
    recorded = attrs.get(HASH_ATTR)
    if recorded is None:
        return {HASH_ATTR: record["config_hash"], IDENTITY_ATTR: json.dumps(record["identity"])}
    if recorded != record["config_hash"]:
        old = json.loads(attrs.get(IDENTITY_ATTR) or "{}")
        raise ConfigError(
            f"study {study} was tuned under another configuration "
            f"({differences(old, record['identity'])}); nothing was run: to start fresh, use "
            "another hydra.sweeper.study_name or storage"
        )
    return {}
