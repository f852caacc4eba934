"""`make airflow` as a newcomer runs it: the command starts, seeds the living demo shop, and the README's walk
through (setup → daily with the form's defaults → retrain with the form's defaults) is green; nothing it starts
listens beyond loopback; Ctrl-C stops every process it started.

The walk through is driven through the REST API; then a real browser (``browser.check_airflow_ui``, Debian's
chromium) reads the same UI: the DAG list and tags, the docs, the trigger form (and a run started from it), the green
run, a task log and the metrics-chart link.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pulla_dev.airflow_cluster import ApiClient
from pulla_dev.local_services import free_port
from pulla_personalize.child_process import death_signal_setter

from .browser import artefacts_dir, check_airflow_ui, chromium_driver, require_browser

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 300


@dataclass
class MakeAirflow:
    process: subprocess.Popen
    url: str
    api: ApiClient
    output: Path
    state_dir: Path
    #: dag id -> its successful run of the walk through (filled by the first test).
    runs: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")


def tree_of(root: int) -> list[int]:
    """``root`` and every process below it (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(parent, []).append(int(entry))
    found, queue = [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def listening_addresses(pids: list[int]) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN state held by ``pids``."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table, encoding="utf-8") as handle:
            for line in handle.readlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == "0A" and inode in inodes:
                    address, port = local.split(":")
                    found.add((_address(address, width), int(port, 16)))
    return found


def _address(hex_address: str, width: int) -> str:
    if width == 8:
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    if hex_address == "0" * 32:
        return "::"
    if hex_address == "00000000000000000000000001000000":
        return "::1"
    return hex_address


@pytest.fixture(scope="module")
def make_airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeAirflow]:
    state_dir = tmp_path_factory.mktemp("make-airflow")
    output = state_dir / "make-airflow.out"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AIRFLOW", "PULLA_PERSONALIZE"))}
    command = [sys.executable, "-m", "pulla_dev.airflow_local", "--port", str(port)]
    command += ["--state-dir", str(state_dir)]
    with output.open("wb") as sink:
        # Its own session, so SIGINT reaches it alone, as Ctrl-C in its terminal would; killed if pytest dies
        # (then the guardians of what it started end those).
        process = subprocess.Popen(
            command,
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=death_signal_setter(),
        )
    url = f"http://127.0.0.1:{port}"
    running = MakeAirflow(process, url, ApiClient(url), output, state_dir)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while f"Airflow UI: {url}" not in running.text():
            assert process.poll() is None, f"make airflow exited with {process.returncode}:\n{running.text()[-4000:]}"
            assert time.monotonic() < deadline, f"make airflow did not start:\n{running.text()[-4000:]}"
            time.sleep(1)
        yield running
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in its terminal
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def run_and_wait(running: MakeAirflow, dag_id: str, conf: dict | None = None) -> str:
    running.api.unpause(dag_id)
    run_id = running.api.trigger(dag_id, conf)
    state = running.api.wait_for_run(dag_id, run_id, timeout=900)
    if state != "success":
        api = running.api
        failed = {
            task_id: api.task_log(dag_id, run_id, item["task_id"], max(item["try_number"], 1), item["map_index"])
            for task_id, item in api.task_instances(dag_id, run_id).items()
            if item["state"] != "success"
        }
        pytest.fail(f"{dag_id} ended {state}: " + "\n".join(f"{task}: {log[-2000:]}" for task, log in failed.items()))
    return run_id


def test_the_readme_walk_through_is_green_with_the_forms_defaults(make_airflow: MakeAirflow) -> None:
    assert re.search(r"Seeded the demo Pulla database at .*: 30 days up to \d{4}-\d{2}-\d{2}\.", make_airflow.text())
    require_browser()  # before minutes of runs: a missing browser skips (fails in CI) at once
    run_and_wait(make_airflow, "pulla_personalize_setup")
    daily = run_and_wait(make_airflow, "pulla_personalize_daily")  # the form's defaults: yesterday
    scheduled = make_airflow.api.get("/api/v2/dags/pulla_personalize_daily/dagRuns", run_type=["scheduled"])
    for run in scheduled["dag_runs"]:  # unpausing started yesterday's scheduled run: green too
        assert make_airflow.api.wait_for_run("pulla_personalize_daily", run["dag_run_id"]) == "success"
    retrain = run_and_wait(make_airflow, "pulla_personalize_retrain")
    tasks = make_airflow.api.task_instances("pulla_personalize_daily", daily)
    assert tasks["import_interactions"]["state"] == "success"
    make_airflow.runs.update({"pulla_personalize_daily": daily, "pulla_personalize_retrain": retrain})


def test_the_ui_in_a_real_browser(make_airflow: MakeAirflow) -> None:
    """What a person sees in Chromium (in Seoul's time zone): checked on rendered text, with a screenshot a step."""
    assert make_airflow.runs, "the walk through did not finish"
    artefacts = artefacts_dir()
    started = time.monotonic()
    with chromium_driver(artefacts) as driver:
        result = check_airflow_ui(
            driver,
            make_airflow.url,
            artefacts,
            make_airflow.runs["pulla_personalize_daily"],
            retrain_run_id=make_airflow.runs["pulla_personalize_retrain"],
        )
    report = json.loads(result.to_json()) | {"browser_seconds_with_start_and_quit": round(time.monotonic() - started)}
    (artefacts / "timings.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    # The form repeated the walk through's daily run (its defaults: yesterday): it adopts that day's import jobs.
    assert result.triggered_conf == {}
    state = make_airflow.api.wait_for_run("pulla_personalize_daily", result.triggered_run_id, timeout=600)
    assert state == "success", f"the run started from the trigger form ({result.triggered_run_id}) ended {state}"


def test_nothing_listens_beyond_loopback(make_airflow: MakeAirflow) -> None:
    addresses = listening_addresses(tree_of(make_airflow.process.pid))
    assert addresses, "found no listening socket at all: the check itself is broken"
    ports = {port for _, port in addresses}
    assert int(make_airflow.url.rsplit(":", 1)[1]) in ports
    assert {address for address, _ in addresses} <= {"127.0.0.1", "::1"}, sorted(addresses)


def test_a_second_instance_on_the_same_port_is_refused_clearly(make_airflow: MakeAirflow, tmp_path: Path) -> None:
    port = make_airflow.url.rsplit(":", 1)[1]
    command = [sys.executable, "-m", "pulla_dev.airflow_local", "--port", port, "--state-dir", str(tmp_path)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 2
    assert f"127.0.0.1:{port} is already in use" in completed.stderr
    assert "--port" in completed.stderr


def test_ctrl_c_stops_everything_it_started(make_airflow: MakeAirflow) -> None:
    pids = tree_of(make_airflow.process.pid)
    assert len(pids) > 8  # guardians, Airflow's components, the local servers
    os.killpg(make_airflow.process.pid, signal.SIGINT)
    assert make_airflow.process.wait(timeout=90) == 0
    assert "Stopped Airflow and the local services." in make_airflow.text()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in pids):
        time.sleep(0.5)
    survivors = [pid for pid in pids if os.path.exists(f"/proc/{pid}")]
    assert survivors == [], survivors
