"""What the rule tests share: a window, default settings, chunks built like the queries return them, and a
readable form of the verdicts and of the cleaned frames."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.extract import QUERY_COLUMNS
from pulla_personalize.quality import Bounds
from pulla_personalize.quarantine import Verdicts

#: The window is 2026-01-01 in Seoul: [2025-12-31T15:00Z, 2026-01-01T15:00Z).
S = 1767193200
E = S + 86_400
SETTINGS = ExportSettings()
BOUNDS = Bounds(earliest=int(SETTINGS.earliest_timestamp.timestamp()), window_start=S, window_end=E)
LONG_ID = "u" * 257
#: The verdict of a row no rule caught.
PASSES = ("", "", "")


def ms(offset_seconds: float) -> int:
    """Epoch milliseconds ``offset_seconds`` after the window start."""
    return round((S + offset_seconds) * 1000)


def query_chunk(query: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """A chunk of ``query`` as the portable path returns it: the contract's columns, Python objects as stored."""
    return pd.DataFrame(rows, columns=list(QUERY_COLUMNS[query]), dtype=object)


def verdict_list(verdicts: Verdicts) -> list[tuple[str, str, str]]:
    """Per row: (kind, rule or reason, column), or PASSES."""
    return list(zip(verdicts.kind.tolist(), verdicts.reason.tolist(), verdicts.column.tolist(), strict=True))


def records(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """The frame's rows as tuples of plain Python values, None for any null."""
    plain = frame.astype(object).where(frame.notna(), None)
    return [tuple(value.item() if isinstance(value, np.generic) else value for value in row) for row in plain.values]
