"""pyproject.toml must list every Python package under include/ and plugins/, or a built wheel would lack it."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_every_package_directory_is_listed_in_pyproject() -> None:
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    roots = {Path(path): name for name, path in setuptools["package-dir"].items()}
    found = set()
    for root, top_level in roots.items():
        for init in (REPO_ROOT / root).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO_ROOT / root)
            found.add(".".join((top_level, *relative.parts)))
    assert found == set(setuptools["packages"])


def test_waiter_definitions_ship_as_package_data() -> None:
    setuptools = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    patterns = setuptools["package-data"]["personalize_provider.waiters"]
    assert any((REPO_ROOT / "plugins/personalize_provider/waiters").glob(pattern) for pattern in patterns)
