"""Work spread over the CPUs in forked processes (no Django here).

Decoding DICOM, the per-slice lung QC and PNG encoding hold the GIL, so threads run them one at a time;
forked workers run them side by side. A forked worker inherits the caller's memory (the series' HU
volume, the uploaded bytes) without copying or pickling it: only an index goes out and only the
result comes back. Workers must not touch the database or shared files: what they return is written
by the caller.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

Result = TypeVar("Result")

MAX_WORKERS = 4  # at most; one per CPU below that
_work: Callable[[int], object] | None = None  # what forked workers run, inherited at fork
_forking = threading.Lock()  # one pool at a time per process: `_work` is what the fork copies


def _run_inherited(index: int) -> object:
    return _work(index)


def worker_count(items: int, min_items: int) -> int:
    """How many processes `fork_map` uses for `items` items: 1 (in this process) for fewer than
    `min_items`, on one CPU, or where this process may not start children (a daemonic one)."""
    workers = min(MAX_WORKERS, os.cpu_count() or 1, items)
    if items < min_items or workers < 2 or multiprocessing.current_process().daemon:
        return 1
    return workers


def _lowest_priority() -> None:
    os.nice(19)  # this worker only; anyone may lower a priority, raising it back needs privileges


def fork_map(
    work: Callable[[int], Result], count: int, *, min_items: int = 16, background: bool = False
) -> list[Result]:
    """[work(0), ..., work(count - 1)], in forked worker processes where that pays (see `worker_count`).

    `work` may read anything this process holds; its results must pickle. Falls back to running here
    if a worker dies (killed, out of memory), so a result is never lost to the pool. `background`: the
    workers run at the lowest CPU priority (nice 19), so that what this machine runs meanwhile (an
    inference job waiting on nothing but the CPU) goes first; run here, the work keeps this process's."""
    global _work
    workers = worker_count(count, min_items)
    if workers == 1:
        return [work(index) for index in range(count)]
    chunk = max(1, count // (4 * workers))  # a few chunks per worker even out their speeds
    with _forking:
        _work = work
        try:
            with ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_lowest_priority if background else None,
            ) as pool:
                return list(pool.map(_run_inherited, range(count), chunksize=chunk))
        except BrokenProcessPool:
            pass
        finally:
            _work = None
    return [work(index) for index in range(count)]
