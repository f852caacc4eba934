"""Child interpreters that work the same under any caller: the CLI, a script, ``airflow dags test``, a task runner
of the LocalExecutor or a Celery worker.

multiprocessing's "spawn" re-imports the caller's ``__main__`` in the child; inside an Airflow task that is
Airflow's own entry point, which cannot initialise there, so every child of ours is instead a plain interpreter
(``python -c``) that imports one module of this package and calls its ``main``. The job goes over stdin and the
results come back as length-prefixed frames on a private copy of stdout (fd 1 itself is pointed at stderr, so a
stray print of any library cannot corrupt a frame). The child dies with its parent: Linux delivers SIGKILL when
the parent thread that started it ends (``PR_SET_PDEATHSIG``), and a closed stdin ends it everywhere else.
"""

from __future__ import annotations

import contextlib
import os
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

#: ``include/``: put last on the child's path, so the package imports even without the editable install.
PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)
#: One length-prefixed frame: the payload's length, then the payload.
LENGTH = struct.Struct("<Q")

_CHILD_MAIN = "import sys, importlib; sys.path.append(sys.argv[2]); importlib.import_module(sys.argv[1]).main()"


def death_signal_setter() -> Any:
    """A callable for between fork and exec that asks Linux for SIGKILL when the parent goes (None elsewhere).

    libc is looked up here, in the parent: the child between fork and exec must do as little as possible."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes
        import signal

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGKILL)


def start(module: str, *, niceness: int = 0) -> subprocess.Popen:
    """Starts ``python -c`` running ``module.main()`` with stdin and stdout as unbuffered pipes.

    ``niceness`` lowers the child's CPU priority by that many steps (POSIX), so it uses what the caller leaves.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD_MAIN, module, PACKAGE_ROOT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        bufsize=0,  # frames are read straight from the pipe (read_exactly)
        preexec_fn=death_signal_setter(),
    )
    if niceness and hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):  # it may already have ended; it then reports why on its own
            os.setpriority(os.PRIO_PROCESS, child.pid, os.getpriority(os.PRIO_PROCESS, 0) + niceness)
    return child


def private_stdout() -> int:
    """In the child: a private descriptor for frames; fd 1 then points at stderr for whatever else is printed."""
    frames = os.dup(1)
    os.dup2(2, 1)
    return frames


def write_all(fd: int, data: Any) -> None:
    """Writes every byte of ``data`` to ``fd``: a pipe write may take only part of it (a signal, a full pipe)."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view) :]


def read_exactly(fd: int, size: int) -> bytearray | None:
    """``size`` bytes from ``fd``, gathered over as many reads as the pipe needs; None at end of file."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    filled = 0
    while filled < size:
        got = os.readv(fd, [view[filled:]])
        if got == 0:
            return None
        filled += got
    return buffer


def write_frame(fd: int, payload: bytes) -> None:
    write_all(fd, LENGTH.pack(len(payload)))
    write_all(fd, payload)


def read_frame(fd: int) -> bytearray | None:
    """The next frame's payload; None when the other side closed the pipe (at a frame boundary or not)."""
    header = read_exactly(fd, LENGTH.size)
    if header is None:
        return None
    return read_exactly(fd, LENGTH.unpack(header)[0])


def widen_pipe(fd: int) -> None:
    """Gives the pipe a 1 MiB buffer where Linux allows it (64 KiB by default): a 30 MB chunk then crosses in 30
    reads instead of 470, each a wake-up of the other process."""
    with contextlib.suppress(ImportError, AttributeError, OSError):  # not Linux, or a lower pipe-max-size
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)


def stop(child: subprocess.Popen) -> None:
    """Ends the child if it still runs and closes our ends of its pipes."""
    if child.poll() is None:
        child.terminate()
    child.wait()
    for pipe in (child.stdin, child.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
