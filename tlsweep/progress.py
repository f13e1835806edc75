"""Progress bars that show on a terminal and stay out of log files.

Every bar in tlsweep is made here. A bar redraws itself with carriage returns, which is right on
a terminal and noise everywhere else: ``make demo`` piped into a file, a SLURM job's ``.err``
file, a Hydra job log. So a bar is drawn only when the setting asks for one (``train.progress``)
*and* tqdm's stream (stderr) is a terminal; elsewhere the loggers' one line per epoch
(``train epoch k/n ...``) is the progress report. The terminal test is tqdm's own
(``disable=None``: off when the stream's ``isatty()`` is false), which also keeps the widget
bars of :mod:`tqdm.auto` inside Jupyter, whose stderr is no terminal but shows bars well.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from tqdm.auto import tqdm

__all__ = ["progress_bar"]

T = TypeVar("T")


def progress_bar(iterable: Iterable[T], *, enabled: bool, **options: Any) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar that is drawn only on a terminal.

    Args:
        iterable: what to iterate over; it is yielded unchanged.
        enabled: the setting (``train.progress`` or a ``progress`` argument); false never draws.
        **options: tqdm's other arguments (``total``, ``desc``, ``leave``, ``unit``, ``file``).

    Returns:
        The tqdm object, which iterates like ``iterable``; with ``enabled`` false or a stream
        that is not a terminal it draws nothing and costs next to nothing.
    """
    # None, not False: tqdm then asks the stream's isatty() (tqdm.std.tqdm.__init__).
    return tqdm(iterable, disable=None if enabled else True, **options)
