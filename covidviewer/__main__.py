"""covidviewer CLI: ``covidviewer [PATH] [--screenshot OUT]`` opens the viewer; sub-commands are headless.

Sub-commands: inspect, predict, models. Each lives in covidviewer.commands.<name> and is imported
only when used, so ``covidviewer --help`` and the viewer start without torch. Ctrl-C ends any of
them with one line and exit code 130, never a traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

EXIT_CANCELLED = 130  # the shell's code for a process ended by SIGINT
COMMANDS = {
    "inspect": "Scan PATH and print studies/series found (headless)",
    "predict": "Run classifiers (and explanations) on files, write JSON + maps (headless)",
    "models": "List registered models and whether trained weights are installed",
}


def _subcommand_parser(name: str) -> tuple[argparse.ArgumentParser, object]:
    module = importlib.import_module(f"covidviewer.commands.{name}")
    parser = argparse.ArgumentParser(prog=f"covidviewer {name}", description=COMMANDS[name])
    module.add_arguments(parser)
    return parser, module


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except KeyboardInterrupt:
        command = f" {argv[0]}" if argv and argv[0] in COMMANDS else ""
        print(f"covidviewer{command}: cancelled; no partial results written", file=sys.stderr)
        return EXIT_CANCELLED


def _dispatch(argv: list[str]) -> int:
    if argv and argv[0] in COMMANDS:
        parser, module = _subcommand_parser(argv[0])
        return int(module.run(parser.parse_args(argv[1:])))
    if argv and argv[0] in ("-V", "--version"):
        from covidviewer import __version__

        print(f"covidviewer {__version__}")
        return 0
    from covidviewer.ui.app import run_viewer  # Qt is imported only for the viewer

    return int(run_viewer(argv))


if __name__ == "__main__":
    sys.exit(main())
