"""How a report figure is drawn and saved: a :class:`Plot` in PNG, PDF and SVG, and panel grids.

Figures are plain :class:`matplotlib.figure.Figure` objects rendered by the Agg canvas: no
pyplot, no global backend state, so the report runs headless and in threads. Every figure of a
report has a fixed name (:data:`FIGURES`), so a later report can remove the files of a figure it
no longer makes and the folder never shows a stale one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.figure import Figure

FORMATS = ("png", "pdf", "svg")
FIGURES = (
    "learning_curve", "convergence", "importance", "cost", "tuned_vs_untuned", "budget_curve",
    "brain_age",
)  # fmt: skip


@dataclass
class Plot:
    """One saved figure: ``files`` maps a format (``png``, ``pdf``, ``svg``) to its path."""

    name: str
    title: str
    files: dict[str, Path] = field(default_factory=dict)


def save(fig: Figure, out: Path, stem: str, name: str, title: str) -> Plot:
    """Save ``fig`` as ``<out>/<stem>-<name>.{png,pdf,svg}`` (``name`` one of :data:`FIGURES`)."""
    if name not in FIGURES:
        raise ValueError(f"figure name={name!r} is not in FIGURES {FIGURES}")
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    files = {}
    for fmt in FORMATS:
        files[fmt] = out / f"{stem}-{name}.{fmt}"
        meta = {"Date": None} if fmt == "svg" else None  # reproducible SVG files
        fig.savefig(files[fmt], dpi=150, metadata=meta)
    return Plot(name, title, files)


def remove_stale(out: Path, stem: str, made: list[Plot]) -> list[Path]:
    """Delete ``<out>/<stem>-<figure>.*`` of every figure not in ``made`` (left by an earlier
    report of the same name), so the folder holds exactly the figures the report lists."""
    names = {p.name for p in made}
    gone = [out / f"{stem}-{n}.{fmt}" for n in FIGURES if n not in names for fmt in FORMATS]
    gone = [path for path in gone if path.is_file()]
    for path in gone:
        path.unlink()
    return gone


def panels(n: int, width: float = 4.2, height: float = 3.0) -> tuple[Figure, list]:
    """A figure with ``n`` panels, three to a row; returns it and the ``n`` axes."""
    ncols = min(3, max(1, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]
