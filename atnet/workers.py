"""Per-sample work over spawned processes: one home for the pool that data_prep/prepare.py
(clips) and data_prep/prepare_macro.py (sequences) share.

Spawned, never forked: the parent holds OpenCV's threads, and a forked copy of a
process with threads can hang. Each worker gives OpenCV one thread, since the
parallelism is over samples.
"""
import multiprocessing

import cv2

_worker_state = {}


def _init_worker(function, context):
    cv2.setNumThreads(1)
    _worker_state.update(function=function, context=context)


def _call(task):
    return _worker_state["function"](task, _worker_state["context"])


def map_unordered(function, tasks, context, workers):
    """Yield ``function(task, context)`` for every task as it finishes, over ``workers`` spawned
    processes (``function`` must be a module-level function); in this process, in order, with
    one worker or one task."""
    if workers <= 1 or len(tasks) <= 1:
        previous = cv2.getNumThreads()
        _init_worker(function, context)
        try:
            yield from map(_call, tasks)
        finally:
            cv2.setNumThreads(previous)
        return
    pool_context = multiprocessing.get_context("spawn")
    with pool_context.Pool(min(workers, len(tasks)), _init_worker, (function, context)) as pool:
        yield from pool.imap_unordered(_call, tasks)
