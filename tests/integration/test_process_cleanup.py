"""Processes our tools start die with whoever started them, also when that one is killed with SIGKILL (a test run
killed by a time-out, a closed terminal): nothing may keep running without a parent.

Each case runs a starter script in its own interpreter, reads the pids it reports, kills it with SIGKILL, and
checks that every reported process (and every process of their groups) is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def group_members(group: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                members.append(int(entry))
    return members


def kill_starter_and_wait(script: str, tmp_path: Path, timeout: float = 30) -> list[int]:
    """Runs ``script`` (which prints one JSON list of pids, then sleeps), SIGKILLs it, and returns the pids that are
    still alive (with their groups' members) after ``timeout`` seconds."""
    path = tmp_path / "starter.py"
    path.write_text(script, encoding="utf-8")
    starter = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        line = starter.stdout.readline()
        pids = json.loads(line)
        groups = {os.getpgid(pid) for pid in pids if alive(pid)}
        tree = sorted({*pids, *(member for group in groups for member in group_members(group))})
        assert len(tree) > len(pids), f"the started commands should have children of their own: {tree}"
    finally:
        starter.send_signal(signal.SIGKILL)
        starter.wait()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(pid) for pid in tree):
        time.sleep(0.2)
    return [pid for pid in tree if alive(pid)]


def test_a_guarded_command_and_its_children_die_with_a_killed_starter(tmp_path: Path) -> None:
    script = (
        "import json, time\n"
        "from pulla_dev.guardian import guarded_popen\n"
        "process = guarded_popen(['bash', '-c', 'sleep 300 & sleep 301 & wait'])\n"
        "time.sleep(1)\n"
        "print(json.dumps([process.pid]), flush=True)\n"
        "time.sleep(300)\n"
    )
    assert kill_starter_and_wait(script, tmp_path) == []


@pytest.mark.slow
def test_local_services_die_with_a_killed_starter(tmp_path: Path) -> None:
    script = (
        "import json, time\n"
        "from pathlib import Path\n"
        "from pulla_dev.local_services import LocalServices\n"
        "services = LocalServices(Path('services'), bucket='pulla-cleanup-test').start()\n"
        "print(json.dumps([process.pid for _, process in services.processes]), flush=True)\n"
        "time.sleep(300)\n"
    )
    assert kill_starter_and_wait(script, tmp_path) == []


def test_the_great_expectations_child_dies_with_a_killed_export(tmp_path: Path) -> None:
    script = (
        "import json, time\n"
        "from pulla_personalize.quality import BackgroundGate\n"
        "gate = BackgroundGate()\n"
        "print(json.dumps([gate.pid]), flush=True)\n"
        "time.sleep(300)\n"
    )
    path = tmp_path / "starter.py"
    path.write_text(script, encoding="utf-8")
    starter = subprocess.Popen([sys.executable, str(path)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        (child,) = json.loads(starter.stdout.readline())
        assert alive(child)
    finally:
        starter.send_signal(signal.SIGKILL)
        starter.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and alive(child):
        time.sleep(0.1)
    assert not alive(child)
