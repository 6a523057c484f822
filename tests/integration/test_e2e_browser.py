"""The whole chain in a real headless Chromium (Debian chromium + chromedriver, selenium).

simulator --RTSP--> agent --MQTT--> amqtt --> collector --> SQLite <-- API (uvicorn)
                                                              ^-- jobs tick (tasks)

A camera breaks; a task is raised; an officer logs in, sees the commune table, opens
the map and moves the task to "reported fixed"; the simulator repairs the camera, the
agent reports ok, and the task closes by itself.
"""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from agent.config import AgentConfig, CameraConfig, MqttConfig
from agent.daemon import run as run_agent
from api.task_rules import TaskRules
from api.tasks import tick
from api.users import UserIn, create_user
from collector.broker import EmbeddedBroker
from collector.consumer import Collector
from collector.db import create_schema, make_engine
from collector.ingest import Ingestor
from collector.models_ops import RepairTask
from collector.registry import import_registry
from collector.registry_io import load_registry
from collector.settings import CollectorSettings
from collector.state import Hysteresis
from tests import broker_fixtures as bf
from tests import simulator_fixtures as fx
from tests.api_helpers import PASSWORD
from tests.chain_helpers import serve_api, until

amqtt_broker = bf.amqtt_broker
simulator = fx.simulator
sim_cache_dir = fx.sim_cache_dir

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="needs Debian's chromium and chromium-driver (make test installs them as root)",
)
COMMUNE = "10001"
REGISTRY = f"""
provinces:
  - {{code: "99", name: "Tỉnh thử"}}
communes:
  - {{code: "{COMMUNE}", name: "Xã Thử", province: "99"}}
sites:
  - {{id: site-1, commune: "{COMMUNE}", name: "NVR xã", lat: 21.0, lon: 105.8}}
agents:
  - {{id: agent-e2e, site: site-1}}
cameras:
  - {{id: cam-1, commune: "{COMMUNE}", site: site-1, agent: agent-e2e, lat: 21.0001,
      lon: 105.8001, heading: 90, fov: 90, range_m: 40, priority: hotspot}}
  - {{id: cam-2, commune: "{COMMUNE}", site: site-1, agent: agent-e2e, lat: 21.0002,
      lon: 105.8003, heading: 180, fov: 90, range_m: 40}}
"""
RULES = TaskRules.model_validate({"grace": {"default": 2, "black": 2}, "verify_probes": 2})


def _task_state(engine: Engine, camera: str) -> tuple[int, str] | None:
    t = RepairTask.__table__.c  # type: ignore[attr-defined]
    with engine.connect() as conn:
        row = conn.execute(select(t.id, t.state).where(t.camera_id == camera)).first()
    return None if row is None else (row.id, row.state)


async def _jobs(engine: Engine) -> None:
    """What ``camnet jobs`` does every tick, every second."""
    while True:
        await asyncio.to_thread(tick, engine, datetime.now(UTC), RULES)
        await asyncio.sleep(1.0)


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(DRIVER)), options=options)


def _wait(driver: Any) -> Any:
    """Waits that survive a page being replaced under them.

    A form POST navigates; an element found in the old page can be read while the
    new one loads, which Chromium reports as a plain WebDriverException ("Node with
    given id does not belong to the document"), not as a stale element: retry it.
    """
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,))


def _officer_reports_fixed(base: str, task_id: int) -> None:
    """Log in, see the table, open the map, move the task to reported_fixed."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver = _browser()
    try:
        wait = _wait(driver)
        driver.get(f"{base}/district")  # not signed in: sent to the login page
        wait.until(ec.presence_of_element_located((By.NAME, "username")))
        driver.find_element(By.NAME, "username").send_keys("can-bo-xa")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login-submit").click()
        row = wait.until(
            ec.presence_of_element_located(
                (By.CSS_SELECTOR, f'#communes [data-commune="{COMMUNE}"]')
            )
        )
        assert "Xã Thử" in row.text
        driver.get(f"{base}/map?commune={COMMUNE}")
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, '#map[data-ready="1"]')))
        assert driver.find_element(By.ID, "map").get_attribute("data-cameras") == "2"
        driver.get(f"{base}/tasks/{task_id}")
        for state in ("in_progress", "reported_fixed"):
            button = wait.until(
                ec.element_to_be_clickable(
                    (By.CSS_SELECTOR, f'button[name="state"][value="{state}"]')
                )
            )
            button.click()
            wait.until(
                ec.text_to_be_present_in_element_attribute(
                    (By.ID, "task-state"), "data-state", state
                )
            )
    finally:
        driver.quit()


def _task_page_state(base: str, task_id: int) -> str:
    """The state the task page shows to a signed-in officer."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver = _browser()
    try:
        wait = _wait(driver)
        driver.get(f"{base}/login")
        driver.find_element(By.NAME, "username").send_keys("can-bo-xa")
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login-submit").click()
        wait.until(ec.url_changes(f"{base}/login"))
        driver.get(f"{base}/tasks/{task_id}")
        element = wait.until(ec.presence_of_element_located((By.ID, "task-state")))
        return str(element.get_attribute("data-state"))
    finally:
        driver.quit()


@pytest.mark.timeout(300)
async def test_a_browser_user_reports_a_fix_and_the_task_closes_when_the_camera_works(
    tmp_path: Path, simulator: fx.SimFactory, amqtt_broker: EmbeddedBroker
) -> None:
    sim = await simulator({"cameras": [{"id": "cam-1"}, {"id": "cam-2"}]})
    db_url = f"sqlite:///{tmp_path}/camnet.db"
    engine = make_engine(db_url)
    create_schema(engine)
    (tmp_path / "registry.yaml").write_text(REGISTRY, encoding="utf-8")
    import_registry(engine, load_registry(tmp_path / "registry.yaml"))
    with engine.begin() as conn:
        officer = UserIn(
            username="can-bo-xa", password=PASSWORD, role="commune", communes=[COMMUNE]
        )
        create_user(conn, officer, datetime.now(UTC))
    collector = Collector(
        CollectorSettings(
            db_url=db_url,
            mqtt_port=amqtt_broker.port,
            client_id="e2e-collector",
            metrics_port=0,
            worse_after=2,
            better_after=2,
            coverage=False,
        ),
        Ingestor(engine, Hysteresis(worse_after=2, worse_after_seconds=30, better_after=2)),
    )
    agent = AgentConfig(
        agent_id="agent-e2e",
        commune=COMMUNE,
        interval=1.5,
        timeout=4,
        state_dir=tmp_path / "agent",
        reports=None,
        metrics_port=0,
        mqtt=MqttConfig(
            host=amqtt_broker.host, port=amqtt_broker.port, heartbeat=2, protocol="3.1.1"
        ),
        cameras=[CameraConfig(id=cid, url=cam.url) for cid, cam in sim.cameras.items()],
    )
    async with serve_api(db_url, tmp_path) as base, asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(collector.run()),
            group.create_task(run_agent(agent)),
            group.create_task(_jobs(engine)),
        ]
        try:
            await sim.set_fault("cam-1", "black")
            raised = await until(lambda: _task_state(engine, "cam-1"), 90, "a task for cam-1")
            task_id = raised[0]
            await asyncio.to_thread(_officer_reports_fixed, base, task_id)
            assert _task_state(engine, "cam-1") == (task_id, "reported_fixed")
            await sim.set_fault("cam-1", "healthy")
            await until(
                lambda: _task_state(engine, "cam-1") == (task_id, "closed"), 90, "the task closed"
            )
            assert await asyncio.to_thread(_task_page_state, base, task_id) == "closed"
        finally:
            for task in tasks:
                task.cancel()
    engine.dispose()
