"""Names of Personalize resources: validation, and the attempt suffix of a job whose name is taken.

Job names (dataset import, data deletion, batch inference and batch segment jobs) are unique per account and region
and can never be reused, so the caller names a job after its data (a rerun of the same data gives the same name:
that is how the operators adopt the job of an earlier attempt), and a later attempt after a FAILED job gets ``-r2``,
``-r3`` ...
"""

from __future__ import annotations

import re

# The API's `Name` shape: 1-63 characters, starting with a letter or digit.
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9\-_]*$")
NAME_MAX_LENGTH = 63


def validate_resource_name(name: str, *, field: str = "name") -> str:
    """Return ``name`` unchanged, or raise ValueError saying which field breaks which rule."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"{field} must be a non-empty string, got {name!r}")
    if len(name) > NAME_MAX_LENGTH:
        raise ValueError(f"{field} {name!r} is {len(name)} characters long; Personalize allows {NAME_MAX_LENGTH}")
    if not NAME_PATTERN.match(name):
        raise ValueError(
            f"{field} {name!r} must start with a letter or digit and contain only letters, digits, '-' and '_'"
        )
    return name


def attempt_suffix(attempt: int) -> str:
    """``""`` for the first attempt, ``-r2``, ``-r3`` ... after that."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise ValueError(f"attempt counts from 1, got {attempt!r}")
    return "" if attempt == 1 else f"-r{attempt}"


def with_attempt(name: str, attempt: int) -> str:
    """An explicit job name for a later attempt: ``name-r2`` ..., shortened to fit the 63-character limit."""
    suffix = attempt_suffix(attempt)
    return validate_resource_name(name[: NAME_MAX_LENGTH - len(suffix)] + suffix, field="job name")
