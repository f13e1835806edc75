"""What each method reads: the labels and subject roles it declares through its contract.

From the cells' ``label_use`` entries in ``benchmark.yaml`` (written by the sweeper from
:meth:`tlsweep.methods.base.Method.label_use`), so a reader sees, next to the numbers, which
methods had more labels or more subjects than others. Nothing here imports torch.
"""

from __future__ import annotations

import json
from typing import Any

from tlsweep.report.collect import Benchmark
from tlsweep.report.tables import Table

LABEL_NAMES = {"target_task": "target task", "source_task": "source task"}
ROLE_NAMES = {"source": "source", "source_val": "source", "train": "target training"}
ROLE_NAMES["unlabelled"] = "unlabelled target"


def methods_table(bench: Benchmark) -> Table:
    """Method → the labels and subject roles its runs read, as declared through its contract.

    One row per method (per method and variant when a variant changes the declaration, e.g.
    ``method.sigma=1``); a cell recorded before the declaration existed shows "not recorded".
    """
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for cell in bench.cells:
        use, key = cell.get("label_use") or {}, (str(cell["method"]), str(cell.get("variant", "")))
        if use or key not in rows:  # a recorded declaration over an unrecorded one
            rows[key] = use
    uses = [(m, json.dumps(u, sort_keys=True)) for (m, _), u in rows.items()]
    split = {m for m, _ in uses if len({u for n, u in uses if n == m}) > 1}
    columns = ["labels", "subject roles", "stage 1 of source_then_target"]
    table = Table(
        title="Labels and subjects each method uses",
        row_axes=["method"],
        col_axes=["use"],
        row_keys=[],
        col_keys=[(c,) for c in columns],
        notes=[
            "As each method declares it (tlsweep.methods.base.Method.label_use; MLflow tags "
            "tlsweep.labels, tlsweep.roles). Every method also selects on the validation "
            "subjects' target labels and is scored once on the test subjects'.",
        ],
    )
    for (method, variant), use in rows.items():
        key = (f"{method} ({variant})" if method in split and variant else method,)
        if key in table.row_keys:
            continue
        table.row_keys.append(key)
        texts = _use_texts(use)
        for column, text in zip(columns, texts, strict=True):
            table.text[(key, (column,))] = text
        table.records.append({"method": method, "variant": variant, **use})
    return table


def _use_texts(use: dict[str, Any]) -> list[str]:
    if not use:
        return ["not recorded"] * 3
    stage1 = _labels(use.get("stage1_labels") or [])
    if use.get("stage1_roles"):
        stage1 = f"{stage1 or 'no labels'} ({_roles(use['stage1_roles'])})"
    roles = _roles(use.get("roles") or [])
    return [_labels(use.get("labels") or []) or "none", roles, stage1 or "– (no pretraining)"]


def _labels(labels: list[str]) -> str:
    names = []
    for name in labels:
        column = name.removeprefix("meta:")
        names.append(LABEL_NAMES.get(name, f"source subjects' {column}"))
    return ", ".join(names)


def _roles(roles: list[str]) -> str:
    return ", ".join(dict.fromkeys(ROLE_NAMES.get(r, r) for r in roles)) or "–"
