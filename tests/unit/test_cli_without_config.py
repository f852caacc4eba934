"""What still works when the pipeline configuration cannot be read: the CLI's help, an export or a validation given
its time zone, and the chart-link plugin. Only what needs the configuration fails, with one line naming the file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "pulla_personalize.cli"]


def run(arguments: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PULLA_PERSONALIZE_CONFIG": str(tmp_path / "missing.yaml")}
    return subprocess.run(arguments, capture_output=True, text=True, env=env, cwd=tmp_path, check=False)


@pytest.mark.parametrize("arguments", [["--help"], ["export", "--help"], ["validate", "--help"]])
def test_help_needs_no_configuration(tmp_path: Path, arguments: list[str]) -> None:
    completed = run([*CLI, *arguments], tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "usage: pulla-personalize" in completed.stdout


def test_an_export_given_its_time_zone_needs_no_configuration(tmp_path: Path) -> None:
    window = ["--start", "2026-11-27", "--end", "2026-11-28", "--out", str(tmp_path / "out")]
    given = run([*CLI, "export", "--db", "sqlite:///nowhere/pulla.db", *window, "--source-time-zone", "UTC"], tmp_path)
    assert given.returncode == 2
    assert "Traceback" not in given.stderr
    assert "missing.yaml" not in given.stderr  # it got past the zone to the database, which is not there
    without = run([*CLI, "export", "--db", "sqlite:///nowhere/pulla.db", *window], tmp_path)
    assert without.returncode == 2
    assert without.stderr.strip().splitlines() == [
        f"pulla-personalize export: error: --source-time-zone not given and {tmp_path / 'missing.yaml'}: "
        "cannot read the pipeline configuration: No such file or directory"
    ]


def test_validate_given_its_time_zone_needs_no_configuration(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    given = run([*CLI, "validate", str(folder), "--source-time-zone", "Asia/Seoul"], tmp_path)
    assert given.returncode == 1  # the folder holds no dataset: the checks fail, they do not crash
    assert "Traceback" not in given.stderr
    without = run([*CLI, "validate", str(folder)], tmp_path)
    assert without.returncode == 2
    assert "--source-time-zone not given" in without.stderr
    assert "missing.yaml" in without.stderr
    unknown = run([*CLI, "validate", str(folder), "--source-time-zone", "Mars/Base"], tmp_path)
    assert (unknown.returncode, unknown.stderr.strip()) == (
        2,
        "pulla-personalize validate: error: unknown time zone 'Mars/Base'",
    )


def test_the_chart_link_plugin_loads_without_reading_the_configuration(tmp_path: Path) -> None:
    code = f"import runpy; runpy.run_path({str(REPO_ROOT / 'plugins' / 'pulla_links.py')!r}); print('loaded')"
    completed = run([sys.executable, "-c", code], tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip().endswith("loaded")
