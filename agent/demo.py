"""The agent's part of ``camnet demo``: simulated cameras and the failure script.

Twelve cameras of three communes; a script breaks and repairs some of them in a cycle.
``camnet_demo`` (the composition root) runs them with the agents, broker and collector.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from agent.messages import ProbeReport
from agent.simulator.scenario import SimulatorConfig
from agent.texts import STATUS_VI, what_is_wrong

if TYPE_CHECKING:
    from agent.simulator.simulator import Simulator

#: (seconds after start of the cycle, camera, behaviour); the cycle repeats.
SCRIPT: list[tuple[float, str, str]] = [
    (15, "xa-a-cam-2", "black"),
    (20, "xa-c-cam-1", "refuse"),
    (22, "xa-c-cam-2", "refuse"),  # commune C at 2/4 working: a ratio alert too
    (25, "xa-a-cam-4", "refuse"),
    (35, "xa-b-cam-1", "blurred"),
    (45, "xa-b-cam-3", "covered"),
    (60, "xa-a-cam-2", "healthy"),
    (70, "xa-a-cam-4", "healthy"),
    (80, "xa-b-cam-1", "healthy"),
    (90, "xa-b-cam-3", "healthy"),
    (95, "xa-c-cam-1", "healthy"),
    (97, "xa-c-cam-2", "healthy"),
]
CYCLE = 100.0


def simulator_config(cache: Path, base_port: int, control_port: int) -> SimulatorConfig:
    """Three communes of four cameras each, 640x360, mixed codecs and auth."""
    cameras = []
    for commune in ("a", "b", "c"):
        for i in range(1, 5):
            cameras.append(
                {
                    "id": f"xa-{commune}-cam-{i}",
                    "codec": "h265" if i == 4 else "h264",
                    "auth": {"a": "digest", "b": "basic"}.get(commune, "none"),
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


def verdict_line(report: ProbeReport) -> str:
    """One probe verdict as the demo prints it (time, mark, camera, status, what is wrong)."""
    mark = {"ok": "✔", "degraded": "!", "down": "✘"}[report.status]
    clock = report.probed_at.astimezone().strftime("%H:%M:%S")
    return (
        f"{clock} {mark} {report.camera_id:<12} {STATUS_VI[report.status]:<14}"
        f" {report.timings.get('total', 0):5.2f}s  {what_is_wrong(report, ', ')}"
    )


async def run_script(sim: Simulator, stop_after: float | None) -> None:
    """Break and repair cameras on :data:`SCRIPT`, cycle after cycle."""
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
