"""``camnet demo``: simulated commune cameras + the edge agent, live reports on screen.

Everything runs in one process on 127.0.0.1 with no services installed: the camera
simulator serves eight cameras of two communes, a script breaks and repairs cameras in a
cycle, and the agent probes every camera every few seconds and prints each verdict in
Vietnamese (JSON lines go to ``var/demo/reports.jsonl``, metrics to ``/metrics``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.config import AgentConfig, CameraConfig, Expected
from agent.daemon import Agent, JsonlSink
from agent.messages import ProbeReport
from agent.metrics import serve_metrics
from agent.simulator.scenario import SimulatorConfig
from agent.texts import STATUS_VI, what_is_wrong

if TYPE_CHECKING:
    from agent.simulator.simulator import Simulator

#: (seconds after start of the cycle, camera, behaviour); the cycle repeats.
SCRIPT: list[tuple[float, str, str]] = [
    (15, "xa-a-cam-2", "black"),
    (25, "xa-a-cam-4", "refuse"),
    (35, "xa-b-cam-1", "blurred"),
    (45, "xa-b-cam-3", "covered"),
    (60, "xa-a-cam-2", "healthy"),
    (70, "xa-a-cam-4", "healthy"),
    (80, "xa-b-cam-1", "healthy"),
    (90, "xa-b-cam-3", "healthy"),
]
CYCLE = 100.0


def simulator_config(cache: Path, base_port: int, control_port: int) -> SimulatorConfig:
    """Two communes of four cameras each, 640x360, mixed codecs and auth."""
    cameras = []
    for commune in ("a", "b"):
        for i in range(1, 5):
            cameras.append(
                {
                    "id": f"xa-{commune}-cam-{i}",
                    "codec": "h265" if i == 4 else "h264",
                    "auth": "digest" if commune == "a" else "basic",
                }
            )
    return SimulatorConfig.model_validate(
        {
            "base_port": base_port,
            "control_port": control_port,
            "cache_dir": cache,
            "defaults": {"width": 640, "height": 360, "fps": 25, "gop": 2},
            "cameras": cameras,
        }
    )


def _line(report: ProbeReport) -> str:
    mark = {"ok": "✔", "degraded": "!", "down": "✘"}[report.status]
    clock = report.probed_at.astimezone().strftime("%H:%M:%S")
    return (
        f"{clock} {mark} {report.camera_id:<12} {STATUS_VI[report.status]:<14}"
        f" {report.timings.get('total', 0):5.2f}s  {what_is_wrong(report, ', ')}"
    )


async def _script(sim: Simulator, stop_after: float | None) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while True:
        cycle_start = loop.time()
        for at, camera, fault in SCRIPT:
            await asyncio.sleep(max(0.0, cycle_start + at - loop.time()))
            if stop_after is not None and loop.time() - start > stop_after:
                return
            await sim.set_fault(camera, fault)
            sys.stdout.write(f"  ⚙ kịch bản / script: {camera} → {fault}\n")
        await asyncio.sleep(max(0.0, cycle_start + CYCLE - loop.time()))


async def run_demo(args: argparse.Namespace) -> None:
    """Run simulator, script and agent until Ctrl-C (or ``--duration`` seconds)."""
    from agent.simulator.simulator import Simulator

    var = Path(args.var)
    await asyncio.to_thread(var.mkdir, parents=True, exist_ok=True)
    sys.stdout.write("Đang mã hoá video mẫu (lần đầu ~10 s) / encoding sample clips...\n")
    sim = Simulator(simulator_config(var / "clips", args.base_port, args.base_port - 1))
    spec = Expected(width=640, height=360)
    async with sim:
        cameras = [
            CameraConfig(id=cam_id, url=cam.url, expected=spec)
            for cam_id, cam in sim.cameras.items()
        ]
        config = AgentConfig(
            agent_id="demo-agent",
            commune="00001",
            interval=args.interval,
            timeout=5,
            state_dir=var / "state",
            reports=str(var / "reports.jsonl"),
            cameras=cameras,
        )
        jsonl = JsonlSink(str(var / "reports.jsonl"))

        async def show(report: ProbeReport) -> None:
            await jsonl(report)
            sys.stdout.write(_line(report) + "\n")
            sys.stdout.flush()

        agent = Agent(config, show)
        server = await serve_metrics(agent.metrics, "127.0.0.1", args.metrics_port)
        sys.stdout.write(
            f"camnet demo: {len(cameras)} camera mô phỏng / simulated cameras\n"
            f"  điều khiển / control:  {sim.control_url}/cameras\n"
            f"  số liệu / metrics:     http://127.0.0.1:{args.metrics_port}/metrics\n"
            f"  báo cáo / reports:     {var / 'reports.jsonl'}\n"
            "  Ctrl-C để dừng / to stop\n"
        )
        try:
            async with asyncio.timeout(args.duration), asyncio.TaskGroup() as group:
                group.create_task(_script(sim, args.duration))
                group.create_task(agent.run())
        except TimeoutError:
            pass
        finally:
            server.close()
            await server.wait_closed()
            agent.close()
            jsonl.close()


def main(args: argparse.Namespace) -> int:
    """Handle ``camnet demo``."""
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(args))
    except OSError as exc:
        sys.stderr.write(
            f"Không mở được cổng / cannot listen: {exc.strerror or exc}. "
            "Cổng đang bận? Port busy? Try --base-port 18554 --metrics-port 19108\n"
        )
        return 1
    sys.stdout.write("Đã dừng / stopped.\n")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``camnet demo`` to the subcommands."""
    p = sub.add_parser(
        "demo",
        help="chạy thử toàn bộ trên máy này / run the whole chain on this machine",
        description="Camera mô phỏng + trạm biên, báo cáo trực tiếp. "
        "Simulated cameras + edge agent with live reports.",
    )
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between probes (10)")
    p.add_argument("--base-port", type=int, default=8554, help="first camera port (8554)")
    p.add_argument("--metrics-port", type=int, default=9108, help="metrics port (9108)")
    p.add_argument("--var", default="var/demo", help="where demo data goes (var/demo)")
    p.set_defaults(handler=main)
