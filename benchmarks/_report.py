"""The provenance footer every benchmark script appends to the report it writes."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def footer() -> str:
    """This run's provenance, for the end of the report it writes (tests check it is current)."""
    from tlsweep.benchmark.provenance import command_line, report_footer

    script = Path(sys.argv[0]).resolve()
    program = f"python {script.relative_to(ROOT) if script.is_relative_to(ROOT) else script}"
    return report_footer([command_line(sys.argv[1:], program)])
