"""The ``pulla-personalize`` console script: one entry point, one module per subcommand.

Each subcommand lives in its own module exposing ``configure_parser(parser)`` and ``run(args) -> int``.
Modules are imported only when their command is chosen (or for ``--help``), so a quick command never pays
for pandas, boto3 or Great Expectations it does not use. Two commands come from packages a production image may
leave out (the demo shop of ``pulla_dev``, the local endpoint of ``personalize_local``): they are named here, not
imported, and a missing package is reported as such.

Every ``--help`` shows each option's default and, below, the command's exit codes (a module's ``EXIT_CODES``);
``--version``, on the command and on each subcommand, prints the installed package's version.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "lint-schemas": ("pulla_personalize.schema_lint", "check Personalize schemas against its rules"),
    "seed-demo-db": ("pulla_dev.demo_shop.seed", "create and fill a demo Pulla database"),
    "local-endpoint": ("personalize_local.cli", "serve a local Amazon Personalize-compatible endpoint"),
    "export": ("pulla_personalize.export_cli", "export a window as gated Personalize CSVs with a report"),
    "validate": ("pulla_personalize.validate_cli", "run the export's checks and suites on existing CSVs"),
}


DISTRIBUTION = "pulla-personalize"

EXIT_CODES = "exit codes: each command lists its own (pulla-personalize COMMAND --help); 2 is always bad usage."


def package_version() -> str:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (the package is not installed: pip install -e . in the checkout)"


class HelpWithDefaults(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's line breaks and adds ``(default: X)`` to an option whose help does not say it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        help_text = action.help or ""
        shows_default = "default" in help_text or "%(default)" in help_text
        if action.default in (None, False, argparse.SUPPRESS) or shows_default or not action.option_strings:
            return action.help
        return f"{help_text} (default: %(default)s)"


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pulla-personalize",
        description="Tools for the Pulla → Amazon Personalize pipeline.",
        epilog=EXIT_CODES,
        formatter_class=HelpWithDefaults,
    )
    _add_version(parser)
    missing: dict[str, str] = {}
    parser.set_defaults(_missing_commands=missing)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text, formatter_class=HelpWithDefaults)
        _add_version(sub)
        if only is None or only == name:
            try:
                module = importlib.import_module(module_name)
            except ModuleNotFoundError as error:
                package = module_name.split(".")[0]
                if error.name != package:
                    raise
                missing[name] = f"{name} comes with the package {package}, which is not installed here"
                continue
            module.configure_parser(sub)
            if sub.epilog is None:
                sub.epilog = getattr(module, "EXIT_CODES", None)
            sub.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    parser = build_parser(only=chosen)
    missing = parser.get_default("_missing_commands")
    if chosen in missing:
        parser.error(missing[chosen])
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args) or 0)
    except BrokenPipeError:
        # The reader went away (``… | head``): stop quietly, as Unix tools do.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
