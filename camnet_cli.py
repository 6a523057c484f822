"""The ``camnet`` command: one entry point, one subcommand per service.

This module is the composition root. It may import every service's ``cli`` module;
nothing imports it (``tests/test_architecture.py`` checks both).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

#: (module, function adding its subcommands, pip extra it needs, the subcommands it adds).
#: A box installed with fewer extras (an edge box: ``camnet[agent]``) still gets every
#: command it can run; the others answer with the extra to install.
SERVICES: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("agent.cli", "register", "agent", ("simulate", "probe", "assess", "agent")),
    ("collector.registry_cli", "add_parser", "collector", ("registry",)),
    ("collector.cli", "add_parsers", "collector", ("collector", "ratio", "db", "broker")),
    ("collector.coverage_cli", "add_parsers", "collector", ("areas", "coverage", "placement")),
    ("api.cli", "add_parsers", "api", ("api", "users")),
    ("api.jobs_cli", "add_parser", "api", ("jobs",)),
    ("api.evaluation.cli", "add_parser", "api", ("evaluate",)),
    ("alerts.cli", "add_parser", "alerts", ("alerts",)),
]
OUR_PACKAGES = {"agent", "collector", "api", "alerts", "camnet_cli", "camnet_demo"}


def _add_service(sub: argparse._SubParsersAction[argparse.ArgumentParser], index: int) -> None:
    module_name, function, extra, commands = SERVICES[index]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] in OUR_PACKAGES:
            raise
        for command in commands:
            p = sub.add_parser(
                command,
                help=f"(cần / needs camnet[{extra}])",
                add_help=False,
                prefix_chars="\0",  # every argument is taken as-is: the handler only explains
            )
            p.add_argument("rest", nargs="*")
            p.set_defaults(handler=_missing(command, extra, exc.name or "?"))
        return
    getattr(module, function)(sub)


def _missing(command: str, extra: str, package: str) -> Callable[[argparse.Namespace], int]:
    def handler(_args: argparse.Namespace) -> int:
        sys.stderr.write(
            f"camnet {command}: máy này chưa cài phần {extra!r} (thiếu {package}) / this "
            f"install lacks the {extra!r} extra ({package} missing): "
            f"pip install 'camnet[{extra}]'\n"
        )
        return 2

    return handler


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
    for index in range(len(SERVICES)):
        _add_service(sub, index)
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
