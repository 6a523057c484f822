"""``camnet alerts``: notifications to technicians and officers (see docs/alerts.md).

  camnet alerts [--db URL] [--rules FILE]          run until SIGTERM / Ctrl-C
  camnet alerts --once [--db URL] [--rules FILE]   one pass (collect + send), then exit
  camnet alerts --check-config [--rules FILE]      print the settings and rules, exit

Settings: environment ``CAMNET_ALERTS_*`` (DB_URL, RULES_FILE, SCAN_SECONDS,
RATIO_SECONDS, CONCURRENCY, METRICS_HOST, METRICS_PORT, MQTT_HOST, MQTT_PORT,
MQTT_USERNAME, MQTT_PASSWORD, MQTT_TLS, MQTT_CA_FILE); the flags win. ``--check-config``
exits 0, or 2 after printing every error (file, line, what to write instead).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from argparse import RawDescriptionHelpFormatter
from pathlib import Path
from typing import Any

from pydantic import ValidationError


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Add ``camnet alerts`` to ``sub``."""
    parser = sub.add_parser(
        "alerts",
        help="gửi cảnh báo cho kỹ thuật viên, cán bộ / notify technicians and officers",
        description=__doc__,
        formatter_class=RawDescriptionHelpFormatter,
    )
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--once", action="store_true", help="one pass, then exit")
    what.add_argument("--check-config", action="store_true", help="print the settings, exit")
    parser.add_argument("--db", metavar="URL", help="database URL ($CAMNET_ALERTS_DB_URL)")
    parser.add_argument(
        "--rules", type=Path, metavar="FILE", help="YAML alert rules ($CAMNET_ALERTS_RULES_FILE)"
    )
    parser.set_defaults(handler=main_alerts)


def main_alerts(args: argparse.Namespace) -> int:
    """Handle ``camnet alerts``; return the exit code."""
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from alerts.config import AlertRules
    from alerts.service import AlertsSettings
    from collector.db import make_engine
    from collector.yaml_rules import RulesError

    overrides = {"db_url": args.db, "rules_file": args.rules}
    try:
        settings = AlertsSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        sys.stderr.write("Cấu hình sai / invalid settings (CAMNET_ALERTS_* or flags):\n")
        for err in exc.errors():
            sys.stderr.write(f"  {'.'.join(map(str, err['loc']))}: {err['msg']}\n")
        return 2
    try:
        rules = AlertRules.load(settings.rules_file) if settings.rules_file else AlertRules()
    except RulesError as exc:
        sys.stderr.write(f"Tệp quy tắc sai / invalid rules file:\n{exc}\n")
        return 2
    if args.check_config:
        shown = settings.model_dump(mode="json")
        shown["db_url"] = make_url(settings.db_url).render_as_string(hide_password=True)
        sys.stdout.write(f"Cấu hình hợp lệ / settings OK: {json.dumps(shown)}\n")
        sys.stdout.write(f"Quy tắc / rules: {rules.model_dump_json()}\n")
        return 0
    logging.basicConfig(
        level=logging.WARNING if args.once else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    engine = make_engine(settings.db_url)
    try:
        if not inspect(engine).has_table("alert_notification"):
            sys.stderr.write(
                f"{engine.url.render_as_string(hide_password=True)}: chưa có bảng cảnh báo / "
                "no alert_notification table — run `camnet db upgrade --db URL` first\n"
            )
            return 2
        return asyncio.run(_run(settings, rules, engine, once=args.once))
    finally:
        engine.dispose()


async def _run(settings: Any, rules: Any, engine: Any, *, once: bool) -> int:
    from prometheus_client import start_http_server

    from alerts.service import AlertsService

    service = AlertsService(settings, rules, engine)
    if once:
        try:
            sent = await service.pass_once()
        finally:
            await service.aclose()
        sys.stdout.write(f"đã gửi / sent: {sent}\n")
        return 0
    server = None
    if settings.metrics_port:
        server, _thread = start_http_server(
            settings.metrics_port, settings.metrics_host, registry=service.metrics.registry
        )
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: main.cancel() if main else None)
    logging.getLogger(__name__).info(
        "camnet alerts: channels %s, events %s, metrics %s → %s",
        ", ".join(sorted(service.channels)) or "none",
        f"{settings.mqtt_host}:{settings.mqtt_port}" if settings.mqtt_host else "off",
        f"{settings.metrics_host}:{settings.metrics_port}" if server else "off",
        engine.url.render_as_string(hide_password=True),
    )
    try:
        await service.run()
    except asyncio.CancelledError:
        logging.getLogger(__name__).info("camnet alerts stopped")
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()
    return 0
