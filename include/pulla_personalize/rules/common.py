"""Rules every source applies the same way: an id must be present and writable, a categorical value writable.

"Writable" is ``transform.text_problems``: no invalid UTF-8, line break, ``|`` or control character, and not
longer than Personalize allows (``id_too_long`` past ``max_id_length``, ``categorical_too_long`` past
``max_categorical_length``).
"""

from __future__ import annotations

import pandas as pd

from pulla_personalize import transform
from pulla_personalize.export_settings import ExportSettings
from pulla_personalize.quarantine import Verdicts


def id_text_problems(values: pd.Series, settings: ExportSettings) -> pd.Series:
    """Per id, the reason it cannot be written as is (NA when it can); a null id is fine here."""
    return transform.text_problems(values, max_length=settings.max_id_length, too_long_reason="id_too_long")


def categorical_text_problems(values: pd.Series, settings: ExportSettings) -> pd.Series:
    """Per categorical value, the reason it cannot be written as is (NA when it can, nulls included)."""
    return transform.text_problems(
        values, max_length=settings.max_categorical_length, too_long_reason="categorical_too_long"
    )


def quarantine_id_problems(
    verdicts: Verdicts, chunk: pd.DataFrame, columns: tuple[str, ...], settings: ExportSettings
) -> None:
    """For each id column in turn: missing_id (null, empty or blank), then the reason from ``id_text_problems``."""
    for column in columns:
        verdicts.quarantine(transform.missing(chunk[column]), "missing_id", column)
        verdicts.quarantine_reasons(id_text_problems(chunk[column], settings), column)


def quarantine_categorical_problems(
    verdicts: Verdicts, chunk: pd.DataFrame, column: str, settings: ExportSettings
) -> None:
    """The reason from ``categorical_text_problems``, in ``column``."""
    verdicts.quarantine_reasons(categorical_text_problems(chunk[column], settings), column)
