"""agent.yaml validation: every error names file, line and what to write instead."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from agent.config import load_config
from agent.daemon import main
from agent.errors import InvalidConfigError

GOOD = """\
agent_id: xa-phu-thuong-01
commune: "00127"
interval: 30
cameras:
  - id: cam-001
    url: rtsp://192.0.2.10:554/Streaming/Channels/101
    name: Ngã ba chợ
    username: admin
    password: "p@ss:word/1"
    expected: {width: 1920, height: 1080, fps: 15}
  - id: cam-002
    url: rtspt://192.0.2.11/live
    thresholds: {black_p90: 20}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(InvalidConfigError) as info:
        load_config(path)
    return [str(e) for e in info.value.errors]


def test_good_config_loads_and_keeps_the_password_secret(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    cam = config.cameras[0]
    assert cam.expected.width == 1920
    assert "p@ss" not in repr(config)
    assert "p@ss" not in config.model_dump_json()
    assert cam.full_url() == "rtsp://admin:p%40ss%3Aword%2F1@192.0.2.10:554/Streaming/Channels/101"
    assert config.cameras[1].full_url() == "rtspt://192.0.2.11/live"


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ("interval: 30", "intervall: 30", 3, ["intervall", "remove it or check its spelling"]),
        ('commune: "00127"', 'commune: "127"', 2, ["commune", "pattern"]),
        ("rtspt://192.0.2.11/live", "http://192.0.2.11/live", 12, ["cameras.1.url", "rtsp://"]),
        ("id: cam-002", "id: cam-001", 11, ["cameras.1.id", "appears twice"]),
        ("{black_p90: 20}", "{blak_p90: 20}", 13, ["cameras.1.thresholds.blak_p90"]),
        ("fps: 15}", "fps: fast}", 10, ["cameras.0.expected.fps", "write a number"]),
    ],
)
def test_each_error_names_file_line_and_fix(
    tmp_path: Path, old: str, new: str, line: int, words: list[str]
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    errors = errors_of(path)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{path}:{line}: "), errors[0]
    for word in words:
        assert word in errors[0]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("interval: 30", "interval: [30"))
    (error,) = errors_of(path)
    assert f"{path}:" in error
    assert "not valid YAML" in error


def test_check_config_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, GOOD)
    args = argparse.Namespace(config=str(good), check_config=True, once=False)
    assert main(args) == 0
    assert "2 camera" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(GOOD.replace("interval: 30", "interval: -1"), encoding="utf-8")
    assert main(argparse.Namespace(config=str(bad), check_config=True, once=False)) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: interval" in err
    missing = argparse.Namespace(config=str(tmp_path / "nope.yaml"), check_config=True, once=False)
    assert main(missing) == 2
    assert "cannot read" in capsys.readouterr().err


def test_passwords_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = GOOD.replace('password: "p@ss:word/1"', 'password: "env:CAM_PW"')
    text += "mqtt: {host: 127.0.0.1, username: a1, password: 'env:MQTT_PW'}\n"
    monkeypatch.setenv("CAM_PW", "p@ss:word/1")
    monkeypatch.setenv("MQTT_PW", "mqtt-secret")
    config = load_config(write(tmp_path, text))
    assert config.cameras[0].full_url().startswith("rtsp://admin:p%40ss%3Aword%2F1@")
    assert config.mqtt is not None
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "mqtt-secret"
    monkeypatch.delenv("MQTT_PW")
    errors = errors_of(write(tmp_path, text))
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"{tmp_path / 'agent.yaml'}:14: ")
    assert "'MQTT_PW' is not set" in errors[0]
