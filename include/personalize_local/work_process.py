"""Running a job's heavy work in a process of its own, so the endpoint's serving threads never wait on its GIL.

Training holds the GIL for long stretches (pandas, the matrix building, the metrics' Python loops); run in the
endpoint's process it made GetRecommendations wait, p99 hundreds of ms under load. :meth:`WorkProcesses.run` starts
a process forked from a fork server (itself a fresh interpreter: none of the endpoint's threads, locks or sockets
are inherited), runs a module-level function there and returns its result; the calling worker thread waits on a
pipe and takes no GIL meanwhile. The process runs at a lower CPU priority than the endpoint, so requests come first
on a machine with few cores.

A process that ends without an answer (killed, out of memory) fails the work with a reason saying how it ended, so
the resource settles failed, never in progress forever. A process never outlives the endpoint for long: it watches
its parent and exits when the parent is gone (a crashed endpoint resumes the work when it starts again), and
:meth:`WorkProcesses.close` ends those still running when the endpoint stops.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from personalize_local.lifecycle import WorkFailed

log = logging.getLogger(__name__)

_CONTEXT = multiprocessing.get_context("forkserver")
# The fork server is a fresh interpreter (nothing of the endpoint's threads, locks or sockets), started at the first
# work; it imports what a training needs once, and every work process forks from it without importing them again
# (spawn paid about 0.7 s of imports per training).
_CONTEXT.set_forkserver_preload(
    ["numpy", "pandas", "scipy.sparse", "implicit.cpu.als", "personalize_local.training_job"]
)
#: How often a work process checks that the endpoint that started it is still there.
PARENT_CHECK_SECONDS = 1.0
#: How much lower a work process's CPU priority is than the endpoint's (os.nice).
WORK_NICENESS = 10


class WorkProcesses:
    """The work processes the endpoint has running, so that stopping the endpoint ends them."""

    def __init__(self) -> None:
        self._running: set[multiprocessing.process.BaseProcess] = set()
        self._lock = threading.Lock()
        self._closed = False

    def run(self, name: str, what: str, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)`` in a new process named ``name``; what it returns, or WorkFailed.

        ``what`` names the work in a failure reason ("training"). The function's WorkFailed keeps its message; any
        other exception fails the work as an internal error, its traceback on the endpoint's stderr.
        """
        receiver, sender = _CONTEXT.Pipe(duplex=False)
        process = _CONTEXT.Process(target=_child, args=(sender, function, args), name=name, daemon=True)
        with self._lock:
            if self._closed:
                raise WorkFailed(f"The local endpoint stopped before the {what} started.")
            process.start()
            self._running.add(process)
        sender.close()  # the child holds the only writing end: its death shows here as the end of the pipe
        try:
            outcome = None
            multiprocessing.connection.wait([receiver, process.sentinel])
            if receiver.poll():
                try:
                    outcome = receiver.recv()
                except EOFError:
                    outcome = None
            process.join()
        finally:
            receiver.close()
            with self._lock:
                self._running.discard(process)
        if outcome is None:
            log.error("work process %s (pid %s) ended without a result: %s", name, process.pid, process.exitcode)
            raise WorkFailed(
                f"The {what} process ended without a result ({_how_it_ended(process.exitcode)}); it may have been "
                "killed or run out of memory. Check the endpoint's log, then create it anew."
            )
        status, value = outcome
        if status == "done":
            return value
        if status == "failed":
            raise WorkFailed(value)
        raise WorkFailed(f"Internal error in the local endpoint's {what} process: {value}")

    def close(self) -> None:
        """End every work process still running; the work of each is resumed when the endpoint starts again."""
        with self._lock:
            self._closed = True
            running = list(self._running)
        for process in running:
            process.terminate()
        # Waits on the sentinels without reaping: the thread in run() reaps its own process, so that it, not this
        # thread, reads the exit status (two threads joining one process can leave one of them without it).
        deadline = time.monotonic() + 5
        pending = [process.sentinel for process in running]
        while pending and time.monotonic() < deadline:
            ended = multiprocessing.connection.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            pending = [sentinel for sentinel in pending if sentinel not in ended]


def _how_it_ended(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"stopped by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"stopped by signal {-exitcode}"
    return f"exit code {exitcode}"


def _child(sender: multiprocessing.connection.Connection, function: Callable[..., Any], args: tuple) -> None:
    parent = os.getppid()
    threading.Thread(target=_exit_without_parent, args=(parent,), name="parent-watch", daemon=True).start()
    # Below the endpoint's priority: on a machine with few cores, requests get the CPU before the training. Where
    # there is no nice() the work only competes on equal terms.
    with contextlib.suppress(AttributeError, OSError):
        os.nice(WORK_NICENESS)
    try:
        outcome = ("done", function(*args))
    except WorkFailed as exc:
        outcome = ("failed", str(exc))
    except Exception as exc:
        traceback.print_exc()
        outcome = ("error", f"{type(exc).__name__}: {exc}")
    sender.send(outcome)
    sender.close()


def _exit_without_parent(parent: int) -> None:
    # Orphaned (the endpoint was killed): the restarted endpoint runs the work again; two runs must not race.
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)
