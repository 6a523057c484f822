"""The ``camnet`` command: one entry point, one subcommand per service.

This module is the composition root. It may import every service's ``cli`` module;
nothing imports it (``tests/test_architecture.py`` checks both).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import camnet_demo
from agent import cli as agent_cli
from alerts import cli as alerts_cli
from api import cli as api_cli
from api import jobs_cli
from api.evaluation import cli as evaluation_cli
from collector import cli as collector_cli
from collector import coverage_cli, registry_cli


def build_parser() -> argparse.ArgumentParser:
    """Build the ``camnet`` parser with every service's subcommands."""
    parser = argparse.ArgumentParser(
        prog="camnet",
        description="camnet — giám sát camera an ninh cộng đồng (community camera health).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    agent_cli.register(sub)
    registry_cli.add_parser(sub)
    collector_cli.add_parsers(sub)
    coverage_cli.add_parsers(sub)
    api_cli.add_parsers(sub)
    jobs_cli.add_parser(sub)
    evaluation_cli.add_parser(sub)
    alerts_cli.add_parser(sub)
    camnet_demo.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = args.handler
    code: int = handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
