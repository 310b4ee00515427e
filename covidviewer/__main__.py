"""covidviewer CLI: ``covidviewer [PATH] [--screenshot OUT]`` opens the viewer; sub-commands are headless.

Sub-commands: inspect, predict, models. Each lives in covidviewer.commands.<name> and is imported
only when used, so ``covidviewer --help`` and the viewer start without torch.
"""
from __future__ import annotations

import argparse
import importlib
import sys

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
