"""The Great Expectations gate: the custom 25-user expectation, blocking vs warning, merging batches, Data Docs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from pulla_personalize import SCHEMAS_DIR
from pulla_personalize.csvout import schema_fields
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.quality import (
    BackgroundGate,
    Bounds,
    QualityGate,
    interaction_items_expectations,
    interaction_items_table,
    interaction_totals_expectations,
    interactions_expectations,
)

START, END = 1767193200, 1767279600
BOUNDS = Bounds(earliest=946684800, window_start=START, window_end=END)
SETTINGS = ExportSettings()
FIELDS = schema_fields("interactions", SCHEMAS_DIR)


def totals(users_with_two: int, users_with_one: int = 5) -> pd.DataFrame:
    counts = [2] * users_with_two + [1] * users_with_one
    frame = pd.DataFrame({"USER_ID": [f"u{i}" for i in range(len(counts))], "INTERACTIONS": counts})
    frame.loc[0, "INTERACTIONS"] = 2000  # enough interactions overall, so only the user rule can fail
    return frame


def outcome(gate: QualityGate, expectation: str, column: str | None = None):  # type: ignore[no-untyped-def]
    matches = [
        item
        for item in gate.result().outcomes
        if item.expectation == expectation and (column is None or item.column == column)
    ]
    assert len(matches) == 1, [item.expectation for item in gate.result().outcomes]
    return matches[0]


@pytest.mark.parametrize(("users", "passes"), [(25, True), (24, False)])
def test_custom_expectation_needs_25_users_with_two_interactions(users: int, passes: bool) -> None:
    gate = QualityGate()
    gate.validate("interactions_per_user", totals(users), interaction_totals_expectations(SETTINGS))
    result = outcome(gate, "expect_enough_users_with_min_interactions")
    assert result.success is passes
    assert result.observed == users
    assert result.blocking
    assert gate.result().passed is passes
    if not passes:
        (line,) = gate.result().summary_lines()[1:]
        assert "at least 25 users with at least 2 interactions" in line
        assert "observed 24" in line


def test_interactions_suite_names_expectation_column_and_examples() -> None:
    frame = pd.DataFrame(
        {
            "USER_ID": ["1", None, "a|b", "u" * 257, "5", "5"],
            "ITEM_ID": ["10", "10", "10", "10", "11", "11"],
            "TIMESTAMP": pd.Series([START, START, START, START, END, START + 5], dtype="Int64"),
            "EVENT_TYPE": ["click", "click", "click", "rate", "click", "click"],
            "EVENT_VALUE": [None, None, None, None, None, -1.0],
            "DEVICE": ["mobile", "pc", "watch", None, "tablet", "pc"],
        }
    ).astype({"USER_ID": "str", "ITEM_ID": "str", "EVENT_TYPE": "str", "DEVICE": "str"})
    gate = QualityGate()
    gate.validate("interactions", frame, interactions_expectations(FIELDS, SETTINGS, BOUNDS))
    failed = {(item.expectation, item.column): item for item in gate.result().outcomes if not item.success}
    assert set(failed) == {
        ("expect_column_values_to_not_be_null", "USER_ID"),
        ("expect_column_values_to_not_match_regex", "USER_ID"),
        ("expect_column_value_lengths_to_be_between", "USER_ID"),
        ("expect_column_values_to_be_in_set", "EVENT_TYPE"),
        ("expect_column_values_to_be_in_set", "DEVICE"),
        ("expect_column_values_to_be_between", "TIMESTAMP"),
        ("expect_column_values_to_be_between", "EVENT_VALUE"),
    }
    assert failed["expect_column_values_to_be_in_set", "DEVICE"].examples == ["watch"]
    assert failed["expect_column_values_to_be_between", "TIMESTAMP"].examples == [END]
    assert all(item.blocking for item in failed.values())
    assert not gate.result().passed


def test_items_missing_from_items_are_a_warning_that_does_not_fail_the_gate() -> None:
    table = interaction_items_table(["99", "10", "10", 7], ["10", "11", "7"])
    assert table["ITEM_ID"].tolist() == ["10", "7", "99"]
    assert table["ITEMS_ITEM_ID"].astype(object).where(table["ITEMS_ITEM_ID"].notna(), None).tolist() == [
        "10",
        "7",
        None,
    ]
    gate = QualityGate()
    gate.validate("interaction_items", table, interaction_items_expectations())
    result = gate.result()
    assert result.passed
    (warning,) = result.warnings
    assert (warning.column, warning.unexpected_count, warning.blocking) == ("ITEM_ID,ITEMS_ITEM_ID", 1, False)
    assert warning.as_dict()["examples"] == [["99", None]]
    assert (
        "warning  expect_column_pair_values_to_be_equal on interaction_items.ITEM_ID,ITEMS_ITEM_ID"
        in result.summary_lines()[1]
    )
    assert "examples ['99', None]" in result.summary_lines()[1]


def test_batches_merge_into_one_outcome_per_expectation(tmp_path: Path) -> None:
    def batch(users: list[str | None]) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "USER_ID": pd.Series(users, dtype="str"),
                "ITEM_ID": "10",
                "TIMESTAMP": pd.Series([START + i for i in range(len(users))], dtype="Int64"),
                "EVENT_TYPE": "click",
                "EVENT_VALUE": pd.Series([None] * len(users), dtype="float64"),
                "DEVICE": "pc",
            }
        )

    gate = QualityGate(tmp_path / "docs")
    expectations = interactions_expectations(FIELDS, SETTINGS, BOUNDS)
    gate.validate("interactions", batch(["1", None, "2"]), expectations)
    gate.validate("interactions", batch([None, "3"]), expectations)
    merged = outcome(gate, "expect_column_values_to_not_be_null", "USER_ID")
    assert (merged.success, merged.unexpected_count, merged.element_count) == (False, 2, 5)
    assert outcome(gate, "expect_column_values_to_not_be_null", "ITEM_ID").success
    index = gate.write_docs()
    assert index == tmp_path / "docs" / "index.html"
    assert index.is_file()
    assert "pulla_interactions" in index.read_text(encoding="utf-8")


def test_background_gate_gives_the_outcomes_of_an_in_process_gate(tmp_path: Path) -> None:
    """Prepared suites, several batches through the two batch slots, Data Docs, and the same merged outcomes."""
    frames = [totals(25), totals(3, users_with_one=0), totals(30)]
    suite = (interaction_totals_expectations, (SETTINGS,))
    in_process = QualityGate()
    for frame in frames:
        in_process.validate("interactions_per_user", frame, interaction_totals_expectations(SETTINGS))
    background = BackgroundGate(tmp_path / "docs")
    try:
        background.prepare({"interactions_per_user": suite})
        for frame in frames:
            background.validate("interactions_per_user", frame, suite)
        result = background.result()
        assert background._child.wait(timeout=10) == 0  # it left by itself once it had replied
    finally:
        background.close()
    assert [item.as_dict() for item in result.outcomes] == [item.as_dict() for item in in_process.result().outcomes]
    assert not result.passed  # the unique-USER_ID rule sees the same ids in every batch
    assert (tmp_path / "docs" / "index.html").is_file()
    assert background.busy_seconds > 0


def test_a_failure_in_the_background_gate_reaches_the_caller_with_its_reason() -> None:
    def feed_batches() -> None:
        for _ in range(4):  # more batches than slots: the caller notices the dead child instead of hanging
            background.validate("interactions_per_user", totals(25), (interaction_totals_expectations, (SETTINGS,)))
        background.finish()

    background = BackgroundGate()
    try:
        # A builder called without its arguments fails in the child (a builder of this test module could not even
        # be unpickled there: the child imports the package, not the tests).
        background.prepare({"interactions_per_user": (interaction_totals_expectations, ())})
        with pytest.raises(RuntimeError, match=r"Great Expectations process failed:(.|\n)*missing 1 required"):
            feed_batches()
    finally:
        background.close()


def run_gate_script(folder: Path, user_ids: str, then: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Runs a BackgroundGate in an interpreter of its own (what happens when that process ends is the point):
    one batch of the per-user table for the ids of the expression ``user_ids``, then the statements ``then``."""
    script = folder / "gate_script.py"
    script.write_text(
        "import pandas as pd\n"
        "from pulla_personalize.export_settings import ExportSettings\n"
        "from pulla_personalize.quality import BackgroundGate, interaction_totals_expectations\n"
        # No `if __name__ == "__main__":` guard: the GX process must not depend on the caller's __main__.
        "gate = BackgroundGate()\n"
        f"frame = pd.DataFrame({{'USER_ID': {user_ids}, 'INTERACTIONS': 2}})\n"
        "gate.validate('t', frame, (interaction_totals_expectations, (ExportSettings(),)))\n"
        + "".join(f"{statement}\n" for statement in then.split("; ")),
        encoding="utf-8",
    )
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=timeout, check=False)


def test_the_background_gate_leaves_nothing_for_the_resource_tracker(tmp_path: Path) -> None:
    """The GX process leaves with os._exit: no lock of its may be left registered (a "leaked semaphore" warning
    in every export's log)."""
    run = run_gate_script(tmp_path, "['a', 'b']", "print(gate.result().passed); gate.close()", timeout=120)
    assert (run.returncode, run.stdout.strip()) == (0, "False"), run.stderr  # 2 users: too few
    assert "leaked" not in run.stderr, run.stderr


def test_a_caller_abandoning_the_background_gate_can_leave_at_once(tmp_path: Path) -> None:
    """An export that fails half-way closes the gate with a large batch still in the pipe to the GX process: the
    process must still end (the queue's feeder thread would otherwise wait for a reader that is gone)."""
    run = run_gate_script(tmp_path, "[f'user-{n}' for n in range(300_000)]", "gate.close(); print('closed')", 60)
    assert (run.returncode, run.stdout.strip()) == (0, "closed"), run.stderr
