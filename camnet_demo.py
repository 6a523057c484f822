"""``camnet demo``: the whole chain on one machine, nothing installed but Python.

simulated cameras --RTSP--> three edge agents --MQTT--> embedded broker (amqtt)
--> collector --> SQLite <-- API + dashboard, with the repair-task jobs ticking and
``camnet alerts`` posting its notices to a local webhook that logs them
(``<var>/alerts.jsonl``); the working ratio of each commune is printed as it changes.

A composition root like ``camnet_cli``: it may import every service; nothing imports it.
Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine

from agent.config import AgentConfig, CameraConfig, Expected, MqttConfig
from agent.daemon import Agent, JsonlSink, open_publisher
from agent.demo import run_script, simulator_config, verdict_line
from agent.messages import ProbeReport
from agent.metrics import AgentMetrics
from alerts.demo import LocalWebhook
from alerts.service import AlertsService, AlertsSettings
from api.app import create_app
from api.jobs import Jobs, JobsMetrics
from api.settings import ApiSettings
from api.task_rules import TaskRules
from api.users import UserIn, create_user
from collector.broker import EmbeddedBroker
from collector.consumer import Collector
from collector.db import create_schema, make_engine
from collector.ingest import Ingestor
from collector.ratio import ratio_now
from collector.registry import import_registry
from collector.registry_io import load_registry
from collector.settings import CollectorSettings
from collector.state import Hysteresis

if TYPE_CHECKING:
    from agent.publisher import MqttPublisher
    from agent.simulator.simulator import Simulator

COMMUNES = {
    "a": ("10001", "Xã A (mô phỏng)"),
    "b": ("10002", "Xã B (mô phỏng)"),
    "c": ("10003", "Xã C (mô phỏng)"),
}
#: Demo logins (printed in the banner): an administrator and commune A's technician.
DEMO_USERS = {"admin": "camnet-demo", "ktv-xa-a": "camnet-demo"}
#: Short graces so that the scripted failures raise tasks within the demo's cycle.
DEMO_RULES = {"grace": {"default": 10, "black": 10, "offline": 10}, "verify_probes": 2}


def registry_yaml(cameras: list[str]) -> str:
    """The demo's official inventory: one province, three communes, a site and agent each."""
    lines = ["provinces:", '  - {code: "99", name: "Tỉnh mô phỏng / demo province"}', "communes:"]
    lines += [f'  - {{code: "{c}", name: "{n}", province: "99"}}' for c, n in COMMUNES.values()]
    lines.append("sites:")
    lines += [
        f'  - {{id: site-{k}, commune: "{c}", name: "NVR {n}"}}' for k, (c, n) in COMMUNES.items()
    ]
    lines.append("agents:")
    lines += [f"  - {{id: demo-agent-{k}, site: site-{k}}}" for k in COMMUNES]
    lines.append("cameras:")
    for cam in cameras:
        key = cam.split("-")[1]
        code = COMMUNES[key][0]
        lines.append(
            f'  - {{id: {cam}, commune: "{code}", site: site-{key}, agent: demo-agent-{key}, '
            "priority: main_road}"
        )
    return "\n".join(lines) + "\n"


def ratio_line(engine: Engine) -> str:
    """'Tỉ lệ hoạt động / working: Xã A 3/4 (75 %) · Xã B 4/4 (100 %)'."""
    with engine.connect() as conn:
        figures = ratio_now(conn)
    names = {c: n.split(" (")[0] for c, n in COMMUNES.values()}
    parts = [
        f"{names.get(code, code)} {r.working:.0f}/{r.installed:.0f} ({100 * (r.ratio or 0):.0f} %)"
        for code, r in sorted(figures.items())
    ]
    return "Tỉ lệ camera hoạt động / working ratio: " + " · ".join(parts)


async def _print_ratios(engine: Engine, every: float) -> None:
    last = ""
    while True:
        await asyncio.sleep(every)
        line = await asyncio.to_thread(ratio_line, engine)
        if line != last:
            sys.stdout.write(f"  ▶ {line}\n")
            sys.stdout.flush()
            last = line


async def run_demo(args: argparse.Namespace) -> None:
    """Run simulator, agents, broker and collector until Ctrl-C (or ``--duration``)."""
    from agent.simulator.simulator import Simulator

    var = Path(args.var)
    await asyncio.to_thread(var.mkdir, parents=True, exist_ok=True)
    sys.stdout.write("Đang mã hoá video mẫu (lần đầu ~10 s) / encoding sample clips...\n")
    sim = Simulator(simulator_config(var / "clips", args.base_port, args.base_port - 1))
    engine = make_engine(f"sqlite:///{var / 'camnet.db'}")
    jsonl = JsonlSink(str(var / "reports.jsonl"))
    try:
        async with sim, EmbeddedBroker("127.0.0.1", args.mqtt_port):
            await asyncio.to_thread(_prepare_db, engine, var, sorted(sim.cameras))
            settings = CollectorSettings(
                db_url=str(engine.url),
                mqtt_port=args.mqtt_port,
                share_group="",  # amqtt has no shared subscriptions
                client_id="demo-collector",
                metrics_port=args.metrics_port,
                worse_after=2,
                worse_after_seconds=60,
                ratio_interval=5,
            )
            rules = Hysteresis(worse_after=2, worse_after_seconds=60, better_after=2)
            ingestor = await asyncio.to_thread(Ingestor, engine, rules, 3.0)
            collector = Collector(settings, ingestor)
            agents = [_agent(k, sim, var, args, jsonl) for k in COMMUNES]
            hook = LocalWebhook(var / "alerts.jsonl", _show_alert)
            await hook.start()
            _banner(sim, var, args)
            try:
                await _run(args, sim, engine, collector, agents, hook)
            finally:
                await hook.close()
    finally:
        jsonl.close()
        engine.dispose()


def _prepare_db(engine: Engine, var: Path, cameras: list[str]) -> None:
    create_schema(engine)
    path = var / "registry.yaml"
    path.write_text(registry_yaml(cameras), encoding="utf-8")
    import_registry(engine, load_registry(path))
    from sqlalchemy import select

    from api.auth import USER

    now = datetime.now(UTC)
    with engine.begin() as conn:
        if conn.scalar(select(USER.c.id).where(USER.c.username == "admin")) is None:
            create_user(
                conn, UserIn(username="admin", password=DEMO_USERS["admin"], role="admin"), now
            )
            tech = UserIn(
                username="ktv-xa-a",
                password=DEMO_USERS["ktv-xa-a"],
                role="technician",
                communes=[COMMUNES["a"][0]],
                full_name="Kỹ thuật viên xã A",
            )
            create_user(conn, tech, now)


async def _jobs(engine: Engine, every: float) -> None:
    """What ``camnet jobs`` does, in the demo's process: roll-up once, then task ticks."""
    jobs = Jobs(engine, TaskRules.model_validate(DEMO_RULES), JobsMetrics())
    await asyncio.to_thread(jobs.run_rollup)
    while True:
        await asyncio.to_thread(jobs.run_tick)
        await asyncio.sleep(every)


async def _alerts(engine: Engine, hook: LocalWebhook, api_port: int) -> None:
    """What ``camnet alerts`` does, in the demo's process: notices to the local webhook."""
    settings = AlertsSettings(db_url=str(engine.url), scan_seconds=3, metrics_port=0)
    rules = hook.rules(f"http://127.0.0.1:{api_port}")
    await AlertsService(settings, rules, engine).run()


def _show_alert(subject: str) -> None:
    sys.stdout.write(f"  🔔 cảnh báo / alert: {subject}\n")
    sys.stdout.flush()


async def _api(engine: Engine, var: Path, port: int) -> None:
    """The API and dashboard on 127.0.0.1 (uvicorn in this event loop)."""
    import uvicorn

    settings = ApiSettings(
        db_url=str(engine.url), port=port, secret_file=var / "api-secret", coverage_refresh=30
    )
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve())
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:  # the demo is stopping: shut down, not cancelled mid-way
        server.should_exit = True
        await serving
        raise


def _agent(
    key: str, sim: Simulator, var: Path, args: argparse.Namespace, jsonl: JsonlSink
) -> tuple[Agent, MqttPublisher]:
    cams = sim.cameras
    config = AgentConfig(
        agent_id=f"demo-agent-{key}",
        commune=COMMUNES[key][0],
        interval=args.interval,
        timeout=5,
        state_dir=var / "state" / key,
        reports=None,
        mqtt=MqttConfig(
            host="127.0.0.1", port=args.mqtt_port, heartbeat=10, backoff_max=2, protocol="3.1.1"
        ),  # amqtt speaks MQTT 3.1.1 only
        cameras=[
            CameraConfig(id=cam_id, url=cam.url, expected=Expected(width=640, height=360))
            for cam_id, cam in cams.items()
            if cam_id.split("-")[1] == key
        ],
    )

    async def show(report: ProbeReport) -> None:
        await jsonl(report)
        sys.stdout.write(verdict_line(report) + "\n")
        sys.stdout.flush()

    metrics = AgentMetrics()
    publisher = open_publisher(config, metrics)
    return Agent(config, show, metrics=metrics, publisher=publisher), publisher


def _banner(sim: Simulator, var: Path, args: argparse.Namespace) -> None:
    sys.stdout.write(
        f"camnet demo: {len(sim.cameras)} camera mô phỏng / simulated cameras, "
        f"{len(COMMUNES)} trạm biên / edge agents, {len(COMMUNES)} xã / communes\n"
        f"  MQTT (amqtt):          127.0.0.1:{args.mqtt_port}\n"
        f"  cơ sở dữ liệu / db:    {var / 'camnet.db'}  (camnet ratio --db sqlite:///...)\n"
        f"  số liệu / metrics:     http://127.0.0.1:{args.metrics_port}/metrics\n"
        f"  điều khiển / control:  {sim.control_url}/cameras\n"
        f"  cảnh báo / alerts:     {var / 'alerts.jsonl'}  (webhook của / of camnet alerts)\n"
        f"  Bảng điều khiển / dashboard: http://127.0.0.1:{args.api_port}/\n"
        f"    đăng nhập / login: admin / {DEMO_USERS['admin']}"
        f"  (kỹ thuật viên / technician: ktv-xa-a / {DEMO_USERS['ktv-xa-a']})\n"
        "  Ctrl-C để dừng / to stop\n"
    )
    sys.stdout.flush()


async def _run(
    args: argparse.Namespace,
    sim: Simulator,
    engine: Engine,
    collector: Collector,
    agents: list[tuple[Agent, MqttPublisher]],
    hook: LocalWebhook,
) -> None:
    from collector.metrics import serve

    server = await serve(collector.metrics.render, "127.0.0.1", args.metrics_port)
    try:
        async with contextlib.AsyncExitStack() as stack:
            for _, publisher in agents:
                await stack.enter_async_context(publisher)
            try:
                async with asyncio.timeout(args.duration), asyncio.TaskGroup() as group:
                    group.create_task(collector.run())
                    group.create_task(run_script(sim, args.duration))
                    group.create_task(_print_ratios(engine, 3.0))
                    group.create_task(_api(engine, Path(args.var), args.api_port))
                    group.create_task(_jobs(engine, 5.0))
                    group.create_task(_alerts(engine, hook, args.api_port))
                    for agent, _ in agents:
                        group.create_task(agent.run())
            except TimeoutError:
                pass
    finally:
        for agent, _ in agents:
            agent.close()
        server.close()
        await server.wait_closed()


def main(args: argparse.Namespace) -> int:
    """Handle ``camnet demo``."""
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_demo(args))
    except OSError as exc:
        sys.stderr.write(
            f"Không mở được cổng / cannot listen: {exc.strerror or exc}. Cổng đang bận? "
            "Port busy? Try --base-port 18554 --mqtt-port 11884 --metrics-port 19110 "
            "--api-port 18000\n"
        )
        return 1
    sys.stdout.write("Đã dừng / stopped.\n")
    return 0
