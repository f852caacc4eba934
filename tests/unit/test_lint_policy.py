"""The lint policy that keeps DAG parsing fast: no heavy library imported at module level in dags/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"
BANNED = ["pandas", "numpy", "boto3", "botocore", "great_expectations"]


def ruff_findings(source: str, filename: str) -> str:
    """Runs the project's ruff configuration on ``source`` as if it were the file ``filename``."""
    completed = subprocess.run(
        [str(RUFF), "check", "--no-cache", "--output-format", "concise", "--stdin-filename", filename, "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    return completed.stdout + completed.stderr


@pytest.mark.parametrize("module", BANNED)
def test_module_level_heavy_import_in_a_dag_file_is_rejected(module: str) -> None:
    findings = ruff_findings(f"import {module}\n\nprint({module})\n", "dags/probe_dag.py")
    assert "TID253" in findings
    assert module in findings


@pytest.mark.parametrize("module", BANNED)
def test_heavy_import_inside_a_task_function_is_allowed(module: str) -> None:
    source = f"def transform():\n    import {module}\n\n    return {module}\n"
    assert "TID253" not in ruff_findings(source, "dags/probe_dag.py")


def test_heavy_imports_are_fine_outside_dags() -> None:
    source = "import pandas\n\nprint(pandas)\n"
    assert "TID253" not in ruff_findings(source, "include/pulla_personalize/probe.py")
