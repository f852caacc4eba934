"""``--help`` of every command shows its defaults and exit codes; ``--version`` answers everywhere."""

from __future__ import annotations

import importlib.metadata

import pytest

from pulla_personalize import cli
from pulla_personalize.pipeline_config import configured_time_zone


def help_text(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal width


@pytest.mark.parametrize("command", sorted(cli.COMMANDS))
def test_every_command_help_lists_its_exit_codes(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, command)
    assert "exit codes:" in text.lower() or "Exit 0" in text
    assert "2" in text.split("xit", 1)[1]  # the usage-error code is among them


def test_top_level_help_points_at_the_commands_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert "exit codes: each command lists its own" in help_text(capsys)


def test_export_help_shows_the_time_zone_default_and_every_other_default(capsys: pytest.CaptureFixture[str]) -> None:
    text = help_text(capsys, "export")
    assert f"default: {configured_time_zone()}, the time_zone of the pipeline configuration" in text
    assert "(default 30)" in text  # bot events per minute
    assert "(default 200000)" in text  # chunk rows
    assert "0 the gate passed" in text
    assert "1 a blocking check failed" in text


def test_an_option_whose_help_omits_its_default_gets_it_added(capsys: pytest.CaptureFixture[str]) -> None:
    # local-endpoint --region said nothing about its default before; the formatter adds it.
    assert "(default: us-east-1)" in help_text(capsys, "local-endpoint")


@pytest.mark.parametrize("argv", [[], ["export"], ["seed-demo-db"], ["validate"], ["lint-schemas"]])
def test_version_prints_the_installed_package_version(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--version"])
    assert exit_info.value.code == 0
    expected = importlib.metadata.version("pulla-personalize")
    assert capsys.readouterr().out.strip() == " ".join(["pulla-personalize", *argv, expected])
