"""``camnet simulate``: serve simulated RTSP cameras until Ctrl-C or SIGTERM.

Examples::

    camnet simulate --cameras 20 --codec h265
    camnet simulate --scenario demo.yaml --cache ~/.cache/camnet-sim
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import Any

DEFAULT_BASE_PORT = 8554
DEFAULT_CONTROL_PORT = 8553


def add_parser(sub: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Add the ``simulate`` subcommand to ``sub``; its ``handler`` returns an exit code."""
    p = sub.add_parser(
        "simulate",
        help="giả lập camera RTSP / simulate RTSP cameras",
        description="Phát camera RTSP giả lập để thử nghiệm / serve simulated RTSP cameras.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--scenario", type=Path, help="YAML scenario file (kịch bản)")
    what.add_argument("--cameras", type=int, metavar="N", help="N healthy cameras")
    p.add_argument("--codec", choices=["h264", "h265"], default="h264", help="with --cameras")
    p.add_argument("--width", type=int, default=640, help="with --cameras (default 640)")
    p.add_argument("--height", type=int, default=360, help="with --cameras (default 360)")
    p.add_argument(
        "--base-port", type=int, default=None, help=f"first RTSP port (default {DEFAULT_BASE_PORT})"
    )
    p.add_argument(
        "--control-port",
        type=int,
        default=None,
        help=f"HTTP control port (default {DEFAULT_CONTROL_PORT}; 0 = any free port)",
    )
    p.add_argument("--cache", type=Path, default=None, help="clip cache directory")
    p.set_defaults(handler=handle)
    parser: argparse.ArgumentParser = p
    return parser


def _config(args: argparse.Namespace) -> Any:
    from agent.simulator.scenario import healthy_config, load_scenario

    if args.scenario is not None:
        config = load_scenario(args.scenario)
    else:
        if args.cameras < 1:
            raise ValueError("--cameras must be at least 1")
        config = healthy_config(
            args.cameras, codec=args.codec, width=args.width, height=args.height
        )
    updates: dict[str, Any] = {}
    if args.base_port is not None or config.base_port is None:
        updates["base_port"] = args.base_port or DEFAULT_BASE_PORT
    if args.control_port is not None:
        updates["control_port"] = args.control_port
    elif args.scenario is None or config.control_port == 0:
        updates["control_port"] = DEFAULT_CONTROL_PORT
    if args.cache is not None:
        updates["cache_dir"] = args.cache
    elif config.cache_dir is None:
        updates["cache_dir"] = Path.home() / ".cache" / "camnet" / "simulator"
    return config.model_copy(update=updates)


async def _serve(config: Any) -> None:
    from agent.simulator.simulator import Simulator

    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    out = sys.stdout
    out.write("Đang mã hoá clip / encoding clips (lần đầu có thể mất vài giây)...\n")
    out.flush()
    async with Simulator(config) as sim:
        for cam in sim.cameras.values():
            out.write(f"Đang phát / serving  {cam.spec.id:<20} {cam.url}  [{cam.behaviour}]\n")
        if sim.control_url:
            out.write(f"Điều khiển / control  {sim.control_url}/cameras\n")
        out.write("Nhấn Ctrl-C để dừng / press Ctrl-C to stop\n")
        out.flush()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
    out.write("Đã dừng / stopped\n")


def handle(args: argparse.Namespace) -> int:
    """Run the simulator from parsed arguments; return the process exit code."""
    from agent.simulator.scenario import ScenarioError

    try:
        config = _config(args)
    except (ScenarioError, ValueError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    try:
        asyncio.run(_serve(config))
    except OSError as exc:
        sys.stderr.write(f"Không mở được cổng / cannot listen: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run ``simulate`` alone (``python -m agent.simulator.cli``)."""
    parser = argparse.ArgumentParser(prog="camnet")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["simulate", *(argv if argv is not None else sys.argv[1:])])
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
