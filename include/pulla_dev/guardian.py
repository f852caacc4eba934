"""Runs a command so that it and everything it starts end with the process that asked for it.

``python -m pulla_dev.guardian -- COMMAND ...`` is started in a new session by ``guarded_popen``, with
Linux's parent-death signal set to SIGTERM: when its starter dies, even by SIGKILL (a killed test run, a closed
terminal), the guardian gets SIGTERM. On SIGTERM or SIGINT it sends SIGTERM to its whole process group (the
command, and the workers and task processes the command forked), waits up to ``--grace`` seconds, then sends
SIGKILL to whatever is left. It is also the "child subreaper" of its tree, so a grandchild whose parent died is
reparented to it instead of escaping to init. When the command ends by itself, the guardian ends its group and
exits with the command's code.

Airflow's components fork workers (the LocalExecutor's, Celery's pool, task supervisors): a parent-death signal
on the component alone would leave those behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(option, value)


def guarded_popen(command: list[str], *, grace_seconds: float = 20, **popen_kwargs: Any) -> subprocess.Popen:
    """Starts ``command`` under a guardian in a session of its own; ``os.killpg(process.pid, SIGTERM)`` (or the
    starter dying) stops the whole tree. ``popen_kwargs`` go to ``subprocess.Popen`` (env, stdout, ...)."""
    from pulla_personalize.child_process import PACKAGE_ROOT

    runner = "import sys; sys.path.append(sys.argv[1]); from pulla_dev.guardian import main; main(sys.argv[2:])"
    return subprocess.Popen(
        [sys.executable, "-c", runner, PACKAGE_ROOT, "--grace", str(grace_seconds), "--", *command],
        start_new_session=True,
        preexec_fn=_term_with_parent,
        **popen_kwargs,
    )


def stop_guarded(processes: list[subprocess.Popen], timeout_seconds: float) -> None:
    """Stops processes started by ``guarded_popen``, newest first: SIGTERM to each guardian (which ends its
    command's group), then, past ``timeout_seconds`` in all, SIGKILL to whatever of a group is left."""
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + timeout_seconds
    for process in reversed(processes):
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the group: anything the guardian could not end
        process.wait()


def _term_with_parent() -> None:
    """Between fork and exec of the guardian: SIGTERM (not SIGKILL: it must get to end its group) when its
    starter dies."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pulla_dev.guardian", description=__doc__.splitlines()[0])
    parser.add_argument("--grace", type=float, default=20, help="seconds between SIGTERM and SIGKILL")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("a command is required after --")

    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    group = os.getpgrp()
    stopping = False

    def stop_group(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop_group)
    signal.signal(signal.SIGINT, stop_group)
    if os.getppid() == 1:  # the starter died before the death signal was armed
        stopping = True
    child = subprocess.Popen(command)
    while child.poll() is None and not stopping:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=0.5)
    _end_group(group, args.grace, child)
    # The command's own exit code: 0 when it stopped cleanly on our SIGTERM.
    sys.exit(child.returncode if child.returncode is not None else 128 + signal.SIGKILL)


def _end_group(group: int, grace_seconds: float, child: subprocess.Popen) -> None:
    """SIGTERM to every other process of the group, then SIGKILL after the grace period; reaps as it goes."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the group signal reaches us too
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + grace_seconds
    while time.monotonic() < deadline and _members(group):
        child.poll()  # the command's status is collected through Popen, so its exit code is kept
        _reap()
        time.sleep(0.1)
    if _members(group):
        for pid in _members(group):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    child.poll()
    _reap()


def _reap() -> None:
    """Collects exited children (and orphans reparented to us as subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _members(group: int) -> list[int]:
    """Other live processes of the process group (from /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            members.append(int(entry))
    return members
