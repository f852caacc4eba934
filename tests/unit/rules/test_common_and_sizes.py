"""The id rules every source shares, and the one definition of the sizes that the gate and the demo shop use."""

from __future__ import annotations

import pandas as pd

from pulla_dev.demo_shop import generator
from pulla_personalize import quality, transform
from pulla_personalize.quarantine import Verdicts
from pulla_personalize.rules.common import quarantine_categorical_problems, quarantine_id_problems
from pulla_personalize.rules.sizes import BAND_SIZES, CUP_SIZES

from .conftest import LONG_ID, PASSES, SETTINGS, verdict_list


def test_id_columns_are_checked_one_after_the_other() -> None:
    chunk = pd.DataFrame(
        {"first": [None, "1|2", "1", "1", "1"], "second": ["x|y", None, " ", LONG_ID, "2"]}, dtype=object
    )
    verdicts = Verdicts(len(chunk))
    quarantine_id_problems(verdicts, chunk, ("first", "second"), SETTINGS)
    assert verdict_list(verdicts) == [
        ("quarantined", "missing_id", "first"),
        ("quarantined", "pipe_in_value", "first"),
        ("quarantined", "missing_id", "second"),
        ("quarantined", "id_too_long", "second"),
        PASSES,
    ]


def test_a_categorical_value_may_be_null_but_not_too_long() -> None:
    chunk = pd.DataFrame({"cup_type": [None, "x" * 1000, "x" * 1001, "a\tb"]}, dtype=object)
    verdicts = Verdicts(len(chunk))
    quarantine_categorical_problems(verdicts, chunk, "cup_type", SETTINGS)
    assert verdict_list(verdicts) == [PASSES, PASSES, ("quarantined", "categorical_too_long", "cup_type"), PASSES]


def test_the_sizes_are_defined_once() -> None:
    assert BAND_SIZES == ("60", "65", "70", "75", "80", "85", "90", "95", "100")
    assert CUP_SIZES == ("AA", "A", "B", "C", "D", "E", "F", "G")
    assert transform.CUP_SIZES is CUP_SIZES
    assert quality.BAND_SIZES is BAND_SIZES
    # The demo shop writes band sizes as integers into the source tables, the same sizes.
    assert generator.CUP_SIZES is CUP_SIZES
    assert tuple(int(size) for size in BAND_SIZES) == generator.BAND_SIZES
    assert len(generator.CUP_WEIGHTS) == len(CUP_SIZES)
    assert len(generator.BAND_WEIGHTS) == len(BAND_SIZES)
