"""``camnet db``, ``camnet ratio`` and ``camnet collector --check-config`` as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import camnet_cli
from collector import store
from collector.db import make_engine
from collector.state import State
from tests.collector_helpers import seed_registry, utc


def test_ratio_now_from_a_fresh_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    assert camnet_cli.main(["ratio", "--db", url]) == 2
    assert "camnet db upgrade" in capsys.readouterr().err
    assert camnet_cli.main(["db", "upgrade", "--db", url]) == 0
    engine = make_engine(url)
    try:
        seed_registry(engine, {"00001": ["c1", "c2", "c3", "c4"], "00002": ["c5"]})
        with engine.begin() as conn:
            rows = [
                store.state_row(c, State(s, utc(2026, 11, 1)), None)
                for c, s in {"c1": "ok", "c2": "degraded", "c3": "down", "c5": "unknown"}.items()
            ]
            store.upsert(conn, store.STATE, rows, "camera_id")
    finally:
        engine.dispose()
    capsys.readouterr()
    assert camnet_cli.main(["ratio", "--db", url, "--json"]) == 0
    figures = {r["commune"]: r for r in json.loads(capsys.readouterr().out)}
    assert figures["00001"]["ratio"] == pytest.approx(0.5)  # ok + degraded of 4 installed
    assert figures["00001"]["never_reported"] == 1
    assert figures["00002"]["ratio"] == 0.0  # unknown is not working
    assert camnet_cli.main(["ratio", "--db", url, "--commune", "00001"]) == 0
    out = capsys.readouterr().out
    assert "00001" in out
    assert "50.0%" in out
    assert "00002" not in out


def test_ratio_over_a_window_in_camera_days(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/c.db"
    assert camnet_cli.main(["db", "upgrade", "--db", url]) == 0
    engine = make_engine(url)
    try:
        seed_registry(engine, {"00001": ["c1", "c2"]})
        with engine.begin() as conn:
            store.set_status_from(conn, "c1", utc(2026, 10, 1), "ok", "", None)
            store.set_status_from(conn, "c1", utc(2026, 11, 2, 17), "down", "", "unreachable")
    finally:
        engine.dispose()
    capsys.readouterr()
    args = ["ratio", "--db", url, "--from", "2026-11-01", "--to", "2026-11-05", "--json"]
    assert camnet_cli.main(args) == 0
    (row,) = json.loads(capsys.readouterr().out)
    # 4 local days x 2 cameras; c1 ok until 3 Nov 00:00 (17:00 UTC) → 2 days working
    assert row["installed"] == pytest.approx(8)
    assert row["working"] == pytest.approx(2)
    assert row["down"] == pytest.approx(2)
    assert row["never_reported"] == pytest.approx(4)


def test_collector_check_config_names_the_bad_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CAMNET_COLLECTOR_BATCH_SIZE", "lots")
    assert camnet_cli.main(["collector", "--check-config"]) == 2
    assert "batch_size" in capsys.readouterr().err
    monkeypatch.delenv("CAMNET_COLLECTOR_BATCH_SIZE")
    assert camnet_cli.main(["collector", "--check-config", "--share-group", ""]) == 0
    assert '"share_group":""' in capsys.readouterr().out
