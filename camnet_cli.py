"""The ``camnet`` command: one entry point, one subcommand per service.

This module is the composition root. It may import every service's ``cli`` module;
nothing imports it (``tests/test_architecture.py`` checks both).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from agent import cli as agent_cli
from alerts import cli as alerts_cli
from api import cli as api_cli
from api import jobs_cli
from api.evaluation import cli as evaluation_cli
from collector import cli as collector_cli
from collector import coverage_cli, registry_cli


def _add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``camnet demo``; the whole chain it runs is imported only when it runs."""
    p = sub.add_parser(
        "demo",
        help="chạy thử toàn bộ trên máy này / run the whole chain on this machine",
        description="Camera mô phỏng + trạm biên + MQTT + collector + SQLite, tỉ lệ hoạt động "
        "theo xã. Simulated cameras, agents, embedded broker, collector and SQLite.",
    )
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between probes (10)")
    p.add_argument("--base-port", type=int, default=8554, help="first camera port (8554)")
    p.add_argument("--mqtt-port", type=int, default=11883, help="embedded broker port (11883)")
    p.add_argument("--metrics-port", type=int, default=9110, help="collector metrics (9110)")
    p.add_argument("--api-port", type=int, default=8000, help="API and dashboard (8000)")
    p.add_argument("--var", default="var/demo", help="where demo data goes (var/demo)")
    p.set_defaults(handler=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    import camnet_demo  # the demo imports every service: only when it runs

    code: int = camnet_demo.main(args)
    return code


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
    _add_demo_parser(sub)
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
