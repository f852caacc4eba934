"""The package lines of the README's layout, enforced: which of our packages each part of the project may import.

    dags/                  -> pulla_airflow, personalize_provider, Airflow
    pulla_airflow (glue)   -> pulla_personalize, personalize_provider, Airflow
    personalize_provider   -> itself, Airflow
    pulla_personalize      -> itself only (no Airflow)
    personalize_local      -> itself only (no Airflow)
    pulla_dev (tooling)    -> anything; nothing imports it but tests

Every ``import`` counts, module level or inside a function: a production worker runs both.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

OURS = ("pulla_personalize", "pulla_airflow", "pulla_dev", "personalize_provider", "personalize_local")

#: Where each part's files live, and the top-level modules (ours and Airflow) its files may import.
PARTS: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {
    "dags": (("dags",), frozenset({"pulla_airflow", "personalize_provider", "airflow"})),
    "pulla_airflow": (
        ("include/pulla_airflow", "plugins/pulla_links.py"),
        frozenset({"pulla_airflow", "pulla_personalize", "personalize_provider", "airflow"}),
    ),
    "personalize_provider": (
        ("plugins/personalize_provider",),
        frozenset({"personalize_provider", "airflow"}),
    ),
    "pulla_personalize": (("include/pulla_personalize",), frozenset({"pulla_personalize"})),
    "personalize_local": (("include/personalize_local",), frozenset({"personalize_local"})),
    "pulla_dev": (("include/pulla_dev",), frozenset({*OURS, "airflow"})),
}

WATCHED = frozenset({*OURS, "airflow"})


def python_files(locations: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for location in locations:
        path = REPO_ROOT / location
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def imported_top_levels(path: Path) -> set[tuple[int, str]]:
    """(line, top-level module) for every absolute import in ``path``, nested ones included."""
    found: set[tuple[int, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update((node.lineno, alias.name.split(".")[0]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.lineno, node.module.split(".")[0]))
    return found


def violations(part: str) -> list[str]:
    locations, allowed = PARTS[part]
    return [
        f"{path.relative_to(REPO_ROOT)}:{line} imports {module}"
        for path in python_files(locations)
        for line, module in sorted(imported_top_levels(path))
        if module in WATCHED and module not in allowed
    ]


@pytest.mark.parametrize("part", sorted(PARTS))
def test_each_part_imports_only_what_its_line_allows(part: str) -> None:
    assert violations(part) == []


def test_every_package_of_ours_belongs_to_a_part() -> None:
    """A new top-level package must be given a line here before it can hide from this test."""
    covered = {path.resolve() for locations, _ in PARTS.values() for path in python_files(locations)}
    for root in ("include", "plugins", "dags"):
        for path in (REPO_ROOT / root).rglob("*.py"):
            assert path.resolve() in covered, f"{path.relative_to(REPO_ROOT)} belongs to no part of the layout"


def test_the_check_sees_a_nested_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def task():\n    from airflow.sdk import Variable\n\n    return Variable\n", encoding="utf-8")
    assert imported_top_levels(probe) == {(2, "airflow")}


def test_the_cli_names_its_optional_commands_and_reports_a_package_left_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A production image without pulla_dev still runs the CLI; the demo-shop command says what is missing."""
    import importlib
    import sys

    from pulla_personalize import cli

    real_import = importlib.import_module

    def without_pulla_dev(name: str, package: str | None = None):
        if name.split(".")[0] == "pulla_dev":
            raise ModuleNotFoundError(f"No module named {name!r}", name="pulla_dev")
        return real_import(name, package)

    monkeypatch.setattr(cli.importlib, "import_module", without_pulla_dev)
    monkeypatch.delitem(sys.modules, "pulla_dev", raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.main(["seed-demo-db", "--url", "sqlite://"])
    assert exited.value.code == 2
    assert "seed-demo-db comes with the package pulla_dev, which is not installed here" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    assert "seed-demo-db" in capsys.readouterr().out


#: The packages besides the core whose commands the core CLI names (by module name, imported only when chosen).
OPTIONAL_COMMAND_PACKAGES = {"pulla_dev": {"seed-demo-db"}, "personalize_local": {"local-endpoint"}}


def test_the_cli_names_no_other_package_of_ours() -> None:
    """The CLI's registry is text, so the import walk above cannot see it: hold it to the same lines here."""
    from pulla_personalize.cli import COMMANDS

    for name, (module, _) in COMMANDS.items():
        package = module.split(".")[0]
        assert package == "pulla_personalize" or name in OPTIONAL_COMMAND_PACKAGES.get(package, set()), (name, module)
