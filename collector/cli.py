"""Collector subcommands: ``camnet collector``, ``ratio``, ``db`` and ``broker``.

Heavy imports (aiomqtt, SQLAlchemy, amqtt) stay inside the handlers so ``camnet --help``
stays fast.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import signal
import sys
from datetime import UTC, date, datetime

from pydantic import ValidationError

from collector.settings import CollectorSettings

STATUS_VI = {
    "ok": "tốt",
    "degraded": "suy giảm",
    "down": "hỏng",
    "unknown": "không rõ",
    "never_reported": "chưa báo",
}


def _db_url(args: argparse.Namespace) -> str:
    from collector.db import DEFAULT_URL

    env = os.environ.get("CAMNET_DB_URL") or os.environ.get("CAMNET_COLLECTOR_DB_URL")
    return str(args.db or env or DEFAULT_URL)


async def _stop_on_signals() -> None:
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, main.cancel if main else (lambda: None))


async def run_collector(settings: CollectorSettings) -> None:
    """Run the collector until SIGTERM/SIGINT."""
    from collector.consumer import Collector
    from collector.db import create_schema, make_engine
    from collector.ingest import Ingestor
    from collector.metrics import serve
    from collector.state import Hysteresis

    engine = make_engine(settings.db_url)
    await asyncio.to_thread(create_schema, engine)
    rules = Hysteresis(
        worse_after=settings.worse_after,
        worse_after_seconds=settings.worse_after_seconds,
        better_after=settings.better_after,
    )
    ingestor = await asyncio.to_thread(Ingestor, engine, rules, settings.offline_after_heartbeats)
    # the caches (a state per camera) are long-lived: keep the cyclic GC off them, and
    # collect young objects less often (ingest allocates many short-lived ones per batch)
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    # batch N commits in a thread (several database round trips) while N+1 is prepared on
    # the event loop: hand the GIL over every 0.5 ms instead of 5, or each answer from the
    # database waits up to 5 ms for the preparing loop
    sys.setswitchinterval(0.0005)
    coverage = None
    if settings.coverage:
        from collector.coverage_live import LiveCoverage

        coverage = LiveCoverage(engine)
    collector = Collector(settings, ingestor, coverage=coverage)
    await collector.load_coverage()  # before consuming: ingest does not wait for it later
    server = None
    if settings.metrics_port:
        server = await serve(collector.metrics.render, settings.metrics_host, settings.metrics_port)
    await _stop_on_signals()
    logging.getLogger(__name__).info(
        "collector %s: mqtt %s:%s → %s",
        settings.client_id,
        settings.mqtt_host,
        settings.mqtt_port,
        engine.url.render_as_string(hide_password=True),
    )
    try:
        await collector.run()
    except asyncio.CancelledError:
        logging.getLogger(__name__).info("collector stopping")
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        engine.dispose()


def collector_main(args: argparse.Namespace) -> int:
    """Handle ``camnet collector``."""
    overrides = {
        k: v
        for k, v in {
            "db_url": args.db,
            "mqtt_host": args.mqtt_host,
            "mqtt_port": args.mqtt_port,
            "share_group": args.share_group,
            "client_id": args.client_id,
            "metrics_port": args.metrics_port,
        }.items()
        if v is not None
    }
    try:
        settings = CollectorSettings(**overrides)
    except ValidationError as exc:
        sys.stderr.write("Cấu hình sai / invalid settings (CAMNET_COLLECTOR_* or flags):\n")
        for err in exc.errors():
            sys.stderr.write(f"  {'.'.join(map(str, err['loc']))}: {err['msg']}\n")
        return 2
    if args.check_config:
        sys.stdout.write(f"Cấu hình hợp lệ / settings OK: {settings.model_dump_json()}\n")
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(run_collector(settings))
    return 0


def ratio_main(args: argparse.Namespace) -> int:
    """Handle ``camnet ratio``: working ratio per commune now or over ``--from/--to``."""
    from sqlalchemy import inspect

    from collector.db import make_engine
    from collector.ratio import VN, local_midnight, ratio_now, ratio_window

    engine = make_engine(_db_url(args))
    try:
        if not inspect(engine).has_table("camera"):
            sys.stderr.write(
                f"{engine.url}: chưa có bảng camnet / no camnet tables — run "
                "`camnet db upgrade --db URL` then `camnet registry import FILE`\n"
            )
            return 2
        with engine.connect() as conn:
            if args.date_from or args.date_to:
                start = local_midnight(args.date_from or date(2000, 1, 1))
                end = local_midnight(args.date_to) if args.date_to else datetime.now(UTC)
                figures = ratio_window(conn, start, end, args.commune)
                unit = 86400.0  # camera-days
            else:
                figures = ratio_now(conn, args.commune)
                unit = 1.0
    finally:
        engine.dispose()
    rows = sorted(figures.values(), key=lambda r: r.commune)
    if args.json:
        out = [
            {
                "commune": r.commune,
                "ratio": r.ratio,
                "installed": r.installed / unit,
                "working": r.working / unit,
                **{k: v / unit for k, v in r.by_status.items()},
            }
            for r in rows
        ]
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        return 0
    what = "camera-ngày / camera-days" if unit > 1 else "camera"
    sys.stdout.write(
        f"Tỉ lệ camera hoạt động / working ratio ({what}, {datetime.now(VN):%d/%m/%Y %H:%M})\n"
    )
    head = "  ".join(f"{STATUS_VI[s]:>9}" for s in STATUS_VI)
    sys.stdout.write(f"{'xã':<6} {'tỉ lệ':>7} {'lắp đặt':>8} {head}\n")
    for r in rows:
        pct = f"{100 * r.ratio:6.1f}%" if r.ratio is not None else "    -  "
        counts = "  ".join(f"{r.by_status.get(s, 0) / unit:>9.1f}" for s in STATUS_VI)
        sys.stdout.write(f"{r.commune:<6} {pct:>7} {r.installed / unit:>8.1f} {counts}\n")
    if not rows:
        sys.stdout.write("(không có camera nào / no cameras in the registry)\n")
    return 0


def db_main(args: argparse.Namespace) -> int:
    """Handle ``camnet db upgrade``."""
    from collector.db import create_schema, make_engine

    engine = make_engine(_db_url(args))
    try:
        create_schema(engine)
    finally:
        engine.dispose()
    sys.stdout.write(f"Cơ sở dữ liệu đã cập nhật / database at the newest schema: {engine.url}\n")
    return 0


def broker_main(args: argparse.Namespace) -> int:
    """Handle ``camnet broker``: the embedded MQTT broker (amqtt) for demos and tests."""
    from collector.broker import EmbeddedBroker

    async def serve() -> None:
        async with EmbeddedBroker(args.host, args.port):
            sys.stdout.write(f"MQTT broker (amqtt) on {args.host}:{args.port}\n")
            sys.stdout.flush()
            await _stop_on_signals()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()

    asyncio.run(serve())
    return 0


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the collector's subcommands to ``sub``."""
    p = sub.add_parser(
        "collector",
        help="nhận báo cáo qua MQTT và lưu / ingest health reports from MQTT",
        description="Settings come from CAMNET_COLLECTOR_* environment variables; flags "
        "override them. See docs/collector.md.",
    )
    p.add_argument("--db", help="database URL (CAMNET_COLLECTOR_DB_URL)")
    p.add_argument("--mqtt-host")
    p.add_argument("--mqtt-port", type=int)
    p.add_argument("--share-group", help="shared-subscription group; '' for amqtt")
    p.add_argument("--client-id", help="MQTT client id (owns the persistent session)")
    p.add_argument("--metrics-port", type=int, help="Prometheus port; 0 turns it off")
    p.add_argument("--check-config", action="store_true", help="validate settings and exit")
    p.set_defaults(handler=collector_main)

    r = sub.add_parser(
        "ratio",
        help="tỉ lệ camera hoạt động theo xã / working-camera ratio per commune",
        description="Now from the latest states, or time-weighted over --from/--to (local "
        "dates, end exclusive) from the status intervals.",
    )
    r.add_argument("--db", help="database URL ($CAMNET_DB_URL, $CAMNET_COLLECTOR_DB_URL)")
    r.add_argument("--commune", help="5-digit commune code")
    r.add_argument("--from", dest="date_from", type=date.fromisoformat, help="YYYY-MM-DD")
    r.add_argument("--to", dest="date_to", type=date.fromisoformat, help="YYYY-MM-DD")
    r.add_argument("--json", action="store_true", help="machine-readable output")
    r.set_defaults(handler=ratio_main)

    d = sub.add_parser("db", help="cơ sở dữ liệu / database schema")
    d.add_argument("action", choices=["upgrade"], help="upgrade: apply Alembic migrations")
    d.add_argument("--db", help="database URL ($CAMNET_DB_URL, $CAMNET_COLLECTOR_DB_URL)")
    d.set_defaults(handler=db_main)

    b = sub.add_parser("broker", help="MQTT broker nhúng / embedded MQTT broker (amqtt)")
    b.add_argument("--host", default="127.0.0.1")
    b.add_argument("--port", type=int, default=1883)
    b.set_defaults(handler=broker_main)
