"""How trials reach the launcher: synchronous batches, or an asynchronous pool that refills.

Hydra's ``Launcher.launch`` blocks until its whole batch is done. ``batch`` mode uses it as
designed: ask ``n_jobs`` trials, launch them in one call, wait, tell, repeat; a batch is one
SLURM array, but every slot waits for the slowest trial of its batch.

``async`` mode keeps ``n_jobs`` trials in flight: a pool of ``n_jobs`` threads each calls
``launcher.launch([one trial])``, and the main thread tells each result and asks the next trial
the moment a thread returns. All Optuna calls stay on the main thread. This needs a launcher
whose ``launch`` can run in several threads at once. The submitit launchers can: ``launch``
builds a fresh ``AutoExecutor`` per call, submits, and blocks in ``job.results()`` polling its
own job's files, touching no shared state beyond reading Hydra's singletons (read
``hydra_submitit_launcher/submitit_launcher.py``). Hydra's BasicLauncher cannot: it runs the
job in-process and rewires logging, the working directory and ``HydraConfig``; its jobs also run
one at a time, so there is nothing to gain. For any launcher not known to be thread-safe the
driver falls back to ``batch`` with a warning.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

P = TypeVar("P")

THREAD_SAFE_LAUNCHERS = frozenset(
    {"hydra_plugins.hydra_submitit_launcher.submitit_launcher.BaseSubmititLauncher"}
)


def launcher_is_thread_safe(launcher: Any) -> bool:
    """Whether ``launcher.launch`` may run in several threads at once (see module docstring)."""
    names = {f"{c.__module__}.{c.__qualname__}" for c in type(launcher).__mro__}
    return bool(names & THREAD_SAFE_LAUNCHERS)


def run_batches(
    next_batch: Callable[[int], list[P]],
    launch: Callable[[list[P]], Sequence[Any]],
    settle: Callable[[P, Any], None],
    n_jobs: int,
) -> None:
    """Ask up to ``n_jobs`` items, launch them together, settle each result, until none is left.

    Args:
        next_batch: k -> at most k new items (an empty list ends the sweep).
        launch: items -> one result per item (a ``JobReturn`` or an exception).
        settle: called on the main thread with each item and its result.
        n_jobs: the batch size.
    """
    while batch := next_batch(n_jobs):
        for item, result in zip(batch, launch(batch), strict=True):
            settle(item, result)


def run_async(
    next_batch: Callable[[int], list[P]],
    launch: Callable[[list[P]], Sequence[Any]],
    settle: Callable[[P, Any], None],
    n_jobs: int,
) -> None:
    """Keep ``n_jobs`` items in flight, refilling a slot as soon as its item is settled.

    Arguments as for :func:`run_batches`; ``launch`` is called with one item, in a worker
    thread.
    """
    running: dict[Future[Sequence[Any]], P] = {}
    pool = ThreadPoolExecutor(max_workers=n_jobs, thread_name_prefix="tlsweep-trial")
    try:
        while True:
            for item in next_batch(n_jobs - len(running)):
                running[pool.submit(launch, [item])] = item
            if not running:
                return
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                item = running.pop(future)
                error = future.exception()
                settle(item, error if error is not None else future.result()[0])
    finally:
        # on Ctrl-C do not wait for cluster jobs; on a normal end nothing is running
        pool.shutdown(wait=not running, cancel_futures=True)
