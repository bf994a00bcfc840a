"""fork_map: the same results as a loop, in order, from forked workers where that pays."""

from __future__ import annotations

import os

import numpy as np

from ildplatform import parallel


def test_fork_map_returns_what_a_loop_returns_in_order_from_other_processes() -> None:
    volume = np.random.default_rng(0).integers(-1000, 400, size=(40, 64, 64), dtype=np.int16)
    sums = parallel.fork_map(lambda z: (int(volume[z].sum()), os.getpid()), len(volume))
    assert [total for total, _ in sums] == [int(volume[z].sum()) for z in range(len(volume))]
    if (os.cpu_count() or 1) > 1:
        assert os.getpid() not in {pid for _, pid in sums}, "the work ran in forked workers"


def test_fork_map_runs_small_work_in_this_process() -> None:
    assert parallel.fork_map(lambda index: os.getpid(), 5) == [os.getpid()] * 5
    assert parallel.worker_count(5, min_items=16) == 1


def test_fork_map_finishes_here_when_a_worker_dies() -> None:
    parent = os.getpid()

    def work(index: int) -> int:
        if index == 7 and os.getpid() != parent:
            os._exit(1)  # a worker killed half way (out of memory, say)
        return index * index

    assert parallel.fork_map(work, 32) == [index * index for index in range(32)]


def test_background_work_runs_at_the_lowest_priority_and_this_process_keeps_its_own() -> None:
    before = os.getpriority(os.PRIO_PROCESS, 0)
    seen = parallel.fork_map(lambda index: (os.getpriority(os.PRIO_PROCESS, 0), os.getpid()), 32, background=True)
    assert os.getpriority(os.PRIO_PROCESS, 0) == before
    if (os.cpu_count() or 1) > 1:
        assert {niceness for niceness, _ in seen} == {19}, "each worker at nice 19"
        assert os.getpid() not in {pid for _, pid in seen}
    assert parallel.fork_map(lambda index: os.getpriority(os.PRIO_PROCESS, 0), 32) == [before] * 32
