"""docker-compose.yml's services, started from their exact command lines as processes.

Debian's mosquitto runs deploy/mosquitto/mosquitto.conf (password file, the ACL that
``camnet registry acl`` writes, the TLS listener) and PostgreSQL is the test cluster;
``migrate``, ``collector``, ``api``, ``jobs``, ``alerts`` and the ``sim`` profile's
``simulator`` and ``sim-agent`` run as the compose file says (tests/compose_helpers.py
lists the only things changed: addresses, free ports, mounted paths). Scenario: every
simulated camera works; one goes black → the collector marks it down, jobs raise a
repair task, alerts post it to a webhook, the API shows it; it is repaired → it works
again. Prometheus' scrape targets (deploy/prometheus/prometheus.yml) all answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import aiomqtt
import psycopg
import pytest
import trustme
import yaml
from psycopg import sql

from tests import compose_helpers as ch
from tests import db_fixtures as dbf
from tests import simulator_fixtures as fx
from tests.alert_servers import FakeHttpService, fake_http
from tests.broker_fixtures import MOSQUITTO, MOSQUITTO_PASSWD
from tests.chain_helpers import until
from tests.conftest import free_port

postgres_server = dbf.postgres_server
sim_cache_dir = fx.sim_cache_dir
fake_http = fake_http

SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret-1",
    "CAMNET_API_SECRET_KEY": "k" * 40,
    "MQTT_COLLECTOR_PASSWORD": "mqtt-collector-1",
    "MQTT_JOBS_PASSWORD": "mqtt-jobs-1",
    "MQTT_ALERTS_PASSWORD": "mqtt-alerts-1",
    "MQTT_SIM_AGENT_PASSWORD": "mqtt-sim-agent-1",
    "GRAFANA_ADMIN_PASSWORD": "grafana-1",
}
MQTT_USERS = {
    "collector": "MQTT_COLLECTOR_PASSWORD",
    "jobs": "MQTT_JOBS_PASSWORD",
    "alerts": "MQTT_ALERTS_PASSWORD",
    "sim-agent-01": "MQTT_SIM_AGENT_PASSWORD",
}
SERVICES = ("collector", "api", "jobs", "alerts", "simulator", "sim-agent")
BROKEN = "sim-cam-2"
#: The only tuning the test changes: short graces (minutes in production) and probes
#: every 2 s (30 s in deploy/sim/agent.yaml), so the scenario fits in a minute.
TASK_RULES = "grace: {default: 2, black: 2, offline: 2}\nverify_probes: 2\n"


def alert_rules(hook: FakeHttpService) -> str:
    url = hook.url("/hook")
    return (
        "quiet_hours: {enabled: false}\nratio: {enabled: false}\ndigest: {enabled: false}\n"
        f"channels:\n  webhooks:\n    - {{name: district, url: '{url}', "
        "secret: 'env:CAMNET_WEBHOOK_SECRET'}\n"
    )


def local_sim_files(net: ch.LocalNetwork, tmp: Path, cache: Path) -> None:
    """The sim profile's scenario and agent.yaml, on loopback and free ports."""
    scenario = yaml.safe_load((ch.ROOT / "deploy/sim/scenario.yaml").read_text())
    scenario |= {"host": "127.0.0.1", "control_port": free_port(), "timeline": []}
    net.ports[("simulator", 8553)] = scenario["control_port"]
    for i, camera in enumerate(scenario["cameras"]):
        camera["port"] = free_port()
        net.ports[("simulator", scenario["base_port"] + i)] = camera["port"]
    agent = yaml.safe_load(net.translate((ch.ROOT / "deploy/sim/agent.yaml").read_text()))
    agent |= {"interval": 2, "state_dir": str(tmp / "agent-state"), "metrics_host": "127.0.0.1"}
    agent["metrics_port"] = free_port()
    agent["mqtt"] |= {"host": "127.0.0.1", "port": net.ports[("mosquitto", 1883)]}
    for path, data in (("scenario.yaml", scenario), ("agent.yaml", agent)):
        (tmp / path).write_text(yaml.safe_dump(data, allow_unicode=True))
        net.files[f"/etc/camnet/sim/{path}"] = tmp / path
    net.files["/var/lib/camnet/clips"] = cache


def broker_files(net: ch.LocalNetwork, tmp: Path) -> trustme.CA:
    """passwd (mosquitto_passwd) and TLS certificates where mosquitto.conf wants them."""
    conf = tmp / "mosquitto"
    (conf / "certs").mkdir(parents=True)
    (tmp / "mosquitto-data").mkdir()
    passwd = conf / "passwd"
    passwd.write_text("".join(f"{u}:{SECRETS[v]}\n" for u, v in MQTT_USERS.items()))
    subprocess.run([MOSQUITTO_PASSWD, "-U", str(passwd)], check=True)
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(conf / "certs/ca.crt"))
    server = ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(conf / "certs/server.crt"))
    server.private_key_pem.write_to_path(str(conf / "certs/server.key"))
    net.files["/mosquitto/config"] = conf
    net.files["/mosquitto/data"] = tmp / "mosquitto-data"
    return ca


def run_once(net: ch.LocalNetwork, service: dict[str, Any], *command: str) -> str:
    """``docker compose run --rm <service> <command>``: its output; fails on an error."""
    argv, env = net.process("run", {**service, "command": list(command)})
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return done.stdout


def get(url: str, token: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read().decode()
    return json.loads(body) if answer.headers.get_content_type() == "application/json" else body


def fresh_database(server: dbf.PostgresServer) -> None:
    """Role and database ``camnet`` as the postgres image's environment creates them."""
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS camnet WITH (FORCE)")
        conn.execute("DROP ROLE IF EXISTS camnet")
        conn.execute(
            sql.SQL("CREATE ROLE camnet LOGIN PASSWORD {}").format(
                sql.Literal(SECRETS["POSTGRES_PASSWORD"])
            )
        )
        conn.execute("CREATE DATABASE camnet OWNER camnet")


async def test_compose_services_run_one_scenario_end_to_end(
    tmp_path: Path,
    postgres_server: dbf.PostgresServer,
    sim_cache_dir: Path,
    fake_http: FakeHttpService,
) -> None:
    if not await asyncio.to_thread(Path(MOSQUITTO).exists):
        pytest.skip(f"{MOSQUITTO} not installed (Debian package mosquitto; make system-deps)")
    rules = {"tasks.yaml": TASK_RULES, "alerts.yaml": alert_rules(fake_http)}
    for name, text in rules.items():
        (tmp_path / name).write_text(text)
    env = SECRETS | {
        "CAMNET_TASK_RULES": str(tmp_path / "tasks.yaml"),
        "CAMNET_ALERT_RULES": str(tmp_path / "alerts.yaml"),
        "CAMNET_WEBHOOK_SECRET": fake_http.secret,
    }
    services = ch.load_compose(env)["services"]
    net = ch.LocalNetwork()
    net.ports[("postgres", 5432)] = postgres_server.port
    net.ports[("mosquitto", 1883)], net.ports[("mosquitto", 8883)] = free_port(), free_port()
    fresh_database(postgres_server)
    ca = broker_files(net, tmp_path)
    local_sim_files(net, tmp_path, sim_cache_dir)

    run_once(net, services["migrate"], *services["migrate"]["command"])
    run_once(net, services["collector"], "camnet", "registry", "import",
             "/etc/camnet/sim/registry.yaml")  # fmt: skip
    acl = net.files["/mosquitto/config"] / "acl"
    run_once(net, services["collector"], "camnet", "registry", "acl", "--out", str(acl))
    assert "user sim-agent-01\ntopic write camnet/v1/99001/sim-agent-01/+/health" in acl.read_text()

    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        conf = ch.mosquitto_conf(net, tmp_path)
        log = tmp_path / "mosquitto.out"
        procs["mosquitto"] = ch.start([MOSQUITTO, "-c", str(conf)], {}, log, tmp_path)
        ch.wait_port(net.ports[("mosquitto", 1883)], procs["mosquitto"], tmp_path / "mosquitto.log")
        for name in SERVICES:
            argv, service_env = net.process(name, services[name])
            procs[name] = ch.start(argv, service_env, tmp_path / f"{name}.log", tmp_path)
        api = f"http://{net.address('api', 8000)}"
        ch.wait_port(net.ports[("api", 8000)], procs["api"], tmp_path / "api.log")
        await tls_listener_works(net, ca)
        await scenario(net, services, api, fake_http, procs, tmp_path)
        scrape_every_target(net)
    finally:
        codes = {}
        for name in reversed(list(procs)):
            with contextlib.suppress(subprocess.TimeoutExpired):
                codes[name] = ch.stop(procs[name])
    # A clean `docker compose stop`: every service exits 0 on SIGTERM, except that uvicorn
    # re-raises the signal once it has shut down gracefully (Docker shows exit code 143).
    api_log = (tmp_path / "api.log").read_text()
    assert "Application shutdown complete" in api_log
    assert codes.pop("api") in (0, -15)
    assert codes == dict.fromkeys(codes, 0), codes


async def tls_listener_works(net: ch.LocalNetwork, ca: trustme.CA) -> None:
    """The agents' listener (8883): TLS with the deployment's CA, passwords checked."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    port = net.ports[("mosquitto", 8883)]
    async with aiomqtt.Client(
        "127.0.0.1", port, username="sim-agent-01",
        password=SECRETS["MQTT_SIM_AGENT_PASSWORD"], tls_context=context,
    ):  # fmt: skip
        pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", port, username="sim-agent-01", password="wrong", tls_context=context
        ):
            pass


async def scenario(
    net: ch.LocalNetwork,
    services: dict[str, Any],
    api: str,
    hook: FakeHttpService,
    procs: dict[str, subprocess.Popen[bytes]],
    tmp: Path,
) -> None:
    run_once(net, services["api"], "camnet", "users", "add", "admin", "--role", "admin",
             "--no-password")  # fmt: skip
    token = run_once(net, services["api"], "camnet", "users", "token", "admin").strip()

    def commune() -> dict[str, Any]:
        rows = get(f"{api}/api/v1/communes", token)
        return next(r for r in rows if r["code"] == "99001")

    def camera() -> dict[str, Any]:
        return dict(get(f"{api}/api/v1/cameras/{BROKEN}", token))

    def alive() -> None:
        for name, proc in procs.items():
            log = tmp / f"{name}.log"
            detail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            assert proc.poll() is None, f"{name} exited {proc.returncode}:\n{detail}"

    async def wait(check: Any, seconds: float, what: str) -> Any:
        alive()
        return await until(check, seconds, what)

    await wait(lambda: commune()["working"] == 6, 90, "all six cameras working")
    control = f"http://{net.address('simulator', 8553)}/cameras/{BROKEN}"
    post = urllib.request.Request(control, data=b'{"fault": "black"}', method="POST")
    await asyncio.to_thread(urllib.request.urlopen, post, None, 10)
    await wait(lambda: camera()["status"] == "down" and camera()["open_task_id"], 60, "task")
    assert camera()["faults"] == ["black"]
    assert commune()["working"] == 5

    def notice_sent() -> bool:  # cameras still starting may have been noticed before it
        return any(
            r.signature_valid
            and r.json["data"].get("kind") == "camera_down"
            and BROKEN in r.body.decode()
            for r in hook.requests
        )

    await wait(notice_sent, 30, f"camera_down for {BROKEN} posted to the webhook")
    repair = urllib.request.Request(control, data=b'{"fault": "healthy"}', method="POST")
    await asyncio.to_thread(urllib.request.urlopen, repair, None, 10)
    await wait(lambda: camera()["status"] == "ok" and not camera()["open_task_id"], 60, "fixed")
    assert commune()["working"] == 6
    alive()
    # `docker compose run --rm collector camnet ratio`: the collector's database, no --db
    ratio = run_once(net, services["collector"], "camnet", "ratio", "--commune", "99001")
    assert re.search(r"^99001\s+100\.0%\s+6\.0\s+6\.0\s", ratio, re.MULTILINE), ratio


def scrape_every_target(net: ch.LocalNetwork) -> None:
    """What Prometheus would scrape (static targets of deploy/prometheus/prometheus.yml)."""
    config = yaml.safe_load((ch.ROOT / "deploy/prometheus/prometheus.yml").read_text())
    seen = set()
    for job in config["scrape_configs"]:
        for group in job.get("static_configs", []):
            for target in group["targets"]:
                service, port = target.split(":")
                if service in ("localhost", "prometheus"):
                    continue
                text = get(
                    f"http://{net.address(service, int(port))}{job.get('metrics_path', '/metrics')}"
                )
                assert f"camnet_{service}_" in text, (service, text[:300])
                seen.add(service)
    assert seen == {"collector", "api", "jobs", "alerts"}
