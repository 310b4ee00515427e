"""Headless sub-commands of the covidviewer CLI: each module has add_arguments(parser) and run(args) -> int."""

