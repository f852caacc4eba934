"""The README's runnable shell blocks work as pasted, in order, on a copy of the checkout.

A block is runnable when the line before its opening ```sh fence is ``<!-- runnable -->`` (it must exit 0) or
``<!-- runnable: exit N -->`` (it must exit N, e.g. the linter on the seed's broken schemas). Only cheap commands
are marked; the blocks that start Airflow clusters are covered by the e2e tier. The copy gets a ``.venv/bin`` that
is this interpreter's, and the copy's own packages come first on PYTHONPATH, so the README's ``.venv/bin/…``
commands run the code of the checkout under test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
MARKER = re.compile(r"^<!--\s*runnable(?::\s*exit\s+(?P<code>\d+))?\s*-->\s*$")
#: What a fresh clone does not have: the copy leaves them out.
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", ".airflow-local", ".airflow_test_home",
    ".test-artefacts", "*.egg-info", "*.db", "out", "build",
)  # fmt: skip
BLOCK_TIMEOUT_SECONDS = 300


@dataclass(frozen=True)
class Block:
    line: int  # of the marker, 1-based
    exit_code: int
    script: str


def runnable_blocks(text: str) -> list[Block]:
    """Every marked block, in order; a marker not directly followed by a ```sh fence is an error."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        found = MARKER.match(line)
        if not found:
            continue
        if number + 1 >= len(lines) or lines[number + 1].strip() not in ("```sh", "```bash"):
            raise ValueError(f"README.md:{number + 1}: a runnable marker must be directly followed by ```sh")
        body = []
        for inner in lines[number + 2 :]:
            if inner.strip() == "```":
                break
            body.append(inner)
        else:
            raise ValueError(f"README.md:{number + 1}: the runnable block is never closed")
        blocks.append(Block(number + 1, int(found["code"] or 0), "\n".join(body) + "\n"))
    return blocks


def test_markers_are_read_with_their_exit_codes() -> None:
    lines = ["intro", "<!-- runnable -->", "```sh", "echo a", "```", "", "```sh", "not marked", "```"]
    text = "\n".join([*lines, "<!-- runnable: exit 1 -->", "```sh", "false", "```", ""])

    assert runnable_blocks(text) == [Block(2, 0, "echo a\n"), Block(10, 1, "false\n")]


def test_a_marker_on_anything_but_a_shell_block_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("README.md:1: a runnable marker must be directly followed by")):
        runnable_blocks("<!-- runnable -->\n```json\n{}\n```\n")


def test_the_readme_marks_its_cheap_commands() -> None:
    scripts = "".join(block.script for block in runnable_blocks(README.read_text(encoding="utf-8")))

    for command in ("--help", "lint-schemas", "seed-demo-db", "export", "validate"):
        assert f"pulla-personalize {command}" in scripts


@pytest.mark.slow
def test_the_readme_runnable_blocks_work_as_pasted_in_order(tmp_path: Path) -> None:
    clone = tmp_path / "clone"
    shutil.copytree(REPO_ROOT, clone, ignore=NOT_IN_A_CLONE)
    (clone / ".venv").mkdir()
    (clone / ".venv" / "bin").symlink_to(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(clone / folder) for folder in ("include", "plugins")),
        "PULLA_PERSONALIZE_CONFIG": str(clone / "include" / "config" / "personalize.yaml"),
    }

    for block in runnable_blocks(README.read_text(encoding="utf-8")):
        completed = subprocess.run(
            ["bash", "-e", "-o", "pipefail", "-c", block.script],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_SECONDS,
            check=False,
        )
        assert completed.returncode == block.exit_code, (
            f"README.md:{block.line}: exit {completed.returncode}, expected {block.exit_code}\n{block.script}"
            f"--- stdout ---\n{completed.stdout[-3000:]}--- stderr ---\n{completed.stderr[-3000:]}"
        )
