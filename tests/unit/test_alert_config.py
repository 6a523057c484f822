"""Alert rules: defaults, the example file, errors naming file and line, quiet hours, retry."""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path

import pytest

from alerts.config import AlertRules, QuietHours, RetryRule, Routes
from alerts.notice import KINDS
from collector.yaml_rules import RuleProblem, RulesError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "alerts.example.yaml"
SECRET = "0123456789abcdef0123"  # 20 characters


def _load(tmp_path: Path, text: str) -> AlertRules:
    path = tmp_path / "alerts.yaml"
    path.write_text(text, encoding="utf-8")
    return AlertRules.load(path)


def _only_problem(tmp_path: Path, text: str) -> RuleProblem:
    with pytest.raises(RulesError) as info:
        _load(tmp_path, text)
    (problem,) = info.value.problems
    assert problem.path == str(tmp_path / "alerts.yaml")
    return problem


def test_defaults() -> None:
    rules = AlertRules()
    assert rules.language == "vi"
    assert rules.dashboard_url == "http://127.0.0.1:8000"
    assert rules.kinds == list(KINDS)
    assert (rules.quiet_hours.start, rules.quiet_hours.end) == (time(22, 0), time(6, 0))
    assert rules.quiet_hours.override_priorities == ["hotspot"]
    assert rules.rate_limit.per_hour == 20
    assert (rules.ratio.below, rules.ratio.recover_above) == (0.8, 0.85)
    assert (rules.ratio.for_minutes, rules.ratio.min_installed) == (30, 5)
    assert rules.digest.at == time(7, 0)
    assert (rules.retry.max_attempts, rules.retry.first_seconds) == (8, 5)
    assert rules.retry.max_seconds == 600
    assert rules.channels.email is None
    assert rules.channels.webhooks == []


def test_the_example_file_documents_the_defaults() -> None:
    assert AlertRules.load(EXAMPLE) == AlertRules()
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in AlertRules.model_fields:
        assert f"\n{key}:" in text, key
    for key in Routes.model_fields:
        assert f"\n  {key}:" in text, key


def test_the_commented_channels_of_the_example_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    head, commented = text.split("\n# channels:\n")
    channels = "channels:\n" + "\n".join(line.removeprefix("# ") for line in commented.splitlines())
    monkeypatch.setenv("CAMNET_SMTP_PASSWORD", "smtp-pass")
    monkeypatch.setenv("CAMNET_TELEGRAM_TOKEN", "123:abc")
    monkeypatch.setenv("CAMNET_ZALO_TOKEN", "zalo-token")
    monkeypatch.setenv("CAMNET_WEBHOOK_SECRET", SECRET)
    rules = _load(tmp_path, head.replace("\nchannels: {}\n", "\n") + "\n" + channels + "\n")
    email = rules.channels.email
    assert email is not None
    assert (email.host, email.port, email.starttls, email.ssl) == (
        "smtp.example.vn",
        587,
        True,
        False,
    )
    assert email.password is not None
    assert email.password.get_secret_value() == "smtp-pass"
    assert rules.channels.telegram is not None
    assert rules.channels.telegram.token.get_secret_value() == "123:abc"
    assert rules.channels.zalo is not None
    assert rules.channels.zalo.access_token.get_secret_value() == "zalo-token"
    (hook,) = rules.channels.webhooks
    assert (hook.name, hook.url) == ("district-ops", "https://ops.example.vn/camnet")
    assert hook.secret.get_secret_value() == SECRET
    assert rules.model_copy(update={"channels": AlertRules().channels}) == AlertRules()


def test_unquoted_times_are_times_not_base60_numbers(tmp_path: Path) -> None:
    rules = _load(tmp_path, "quiet_hours:\n  start: 22:30\n  end: 6:00\ndigest:\n  at: 07:15\n")
    assert (rules.quiet_hours.start, rules.quiet_hours.end) == (time(22, 30), time(6, 0))
    assert rules.digest.at == time(7, 15)


def test_dashboard_url_loses_its_trailing_slash(tmp_path: Path) -> None:
    rules = _load(tmp_path, 'dashboard_url: "https://camnet.example.vn/"\nlanguage: en\n')
    assert rules.dashboard_url == "https://camnet.example.vn"
    assert rules.language == "en"


def test_a_misspelt_key_names_file_line_and_the_valid_keys(tmp_path: Path) -> None:
    problem = _only_problem(tmp_path, "language: vi\nquiet_hours:\n  enabled: true\n  stat: 1\n")
    assert (problem.line, problem.key) == (4, "quiet_hours.stat")
    assert "start" in problem.hint
    assert "override_priorities" in problem.hint
    assert str(problem).startswith(f"{tmp_path / 'alerts.yaml'}:4: quiet_hours.stat:")


def test_a_misspelt_key_inside_a_webhook_lists_its_keys(tmp_path: Path) -> None:
    text = (
        "channels:\n  webhooks:\n    - name: ops\n      url: https://x.vn\n"
        f"      secret: {SECRET}\n      kind: []\n"
    )
    problem = _only_problem(tmp_path, text)
    assert (problem.line, problem.key) == (6, "channels.webhooks.0.kind")
    assert "kinds" in problem.hint
    assert "communes" in problem.hint


def test_a_bad_time_says_how_to_write_one(tmp_path: Path) -> None:
    problem = _only_problem(tmp_path, 'digest:\n  enabled: true\n  at: "25:00"\n')
    assert (problem.line, problem.key) == (3, "digest.at")
    assert "25:00" in problem.message
    assert '"HH:MM"' in problem.hint


def test_recover_above_under_below_points_at_it(tmp_path: Path) -> None:
    problem = _only_problem(tmp_path, "ratio:\n  below: 0.9\n  recover_above: 0.7\n")
    assert (problem.line, problem.key) == (3, "ratio.recover_above")
    assert "recover_above (0.7) is under below (0.9)" in problem.message
    # Left out, the default 0.85 is under 0.9 too: the problem points at `ratio:`.
    problem = _only_problem(tmp_path, "language: vi\nratio:\n  below: 0.9\n")
    assert (problem.line, problem.key) == (2, "ratio.recover_above")


def test_a_short_webhook_secret_names_the_webhook_and_how_to_make_one(tmp_path: Path) -> None:
    text = (
        "channels:\n  webhooks:\n    - name: ops\n      url: https://x.vn\n      secret: xyzzy42\n"
    )
    problem = _only_problem(tmp_path, text)
    assert (problem.line, problem.key) == (5, "channels.webhooks.0.secret")
    assert "webhook 'ops'" in problem.message
    assert "16" in problem.message
    assert "xyzzy42" not in str(problem)  # a secret is never echoed
    assert 'python -c "import secrets; print(secrets.token_hex(32))"' in problem.hint


def test_an_unset_env_secret_names_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CAMNET_TEST_UNSET", raising=False)
    text = 'channels:\n  telegram:\n    token: "env:CAMNET_TEST_UNSET"\n'
    problem = _only_problem(tmp_path, text)
    assert (problem.line, problem.key) == (3, "channels.telegram.token")
    assert "CAMNET_TEST_UNSET" in problem.message
    assert "export CAMNET_TEST_UNSET=" in problem.hint


def test_a_short_env_secret_is_caught_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAMNET_TEST_SECRET", "tiny")
    text = (
        "channels:\n  webhooks:\n    - name: ops\n      url: https://x.vn\n"
        '      secret: "env:CAMNET_TEST_SECRET"\n'
    )
    problem = _only_problem(tmp_path, text)
    assert (problem.line, problem.key) == (5, "channels.webhooks.0.secret")
    assert "tiny" not in str(problem)


def test_a_wrong_secret_value_is_not_echoed(tmp_path: Path) -> None:
    problem = _only_problem(tmp_path, "channels:\n  telegram:\n    token: 987654321\n")
    assert (problem.line, problem.key) == (3, "channels.telegram.token")
    assert "987654321" not in str(problem)


def test_an_unknown_kind_lists_the_kinds(tmp_path: Path) -> None:
    problem = _only_problem(tmp_path, "kinds:\n  - camera_down\n  - camera_dwn\n")
    assert (problem.line, problem.key) == (3, "kinds.1")
    assert "'camera_dwn'" in problem.message
    assert ", ".join(KINDS) in problem.hint


def test_a_bad_role_and_dashboard_url(tmp_path: Path) -> None:
    with pytest.raises(RulesError) as info:
        _load(tmp_path, "dashboard_url: camnet.vn\nroutes:\n  digest: [commune, mayor]\n")
    found = {(p.line, p.key) for p in info.value.problems}
    assert found == {(1, "dashboard_url"), (3, "routes.digest.1")}
    by_key = {p.key: p for p in info.value.problems}
    assert "http://" in by_key["dashboard_url"].hint
    assert "'mayor'" in by_key["routes.digest.1"].message


# ------------------------------------------------------------------------- quiet hours


def _utc(local: str) -> datetime:
    """A local (UTC+7) "YYYY-MM-DD HH:MM" as a UTC-aware datetime."""
    return datetime.fromisoformat(local + "+07:00").astimezone(UTC)


def test_quiet_until_across_midnight() -> None:
    quiet = QuietHours()  # 22:00-06:00
    assert quiet.quiet_until(_utc("2024-05-01 23:30")) == _utc("2024-05-02 06:00")
    assert quiet.quiet_until(_utc("2024-05-01 23:30")) == datetime(2024, 5, 1, 23, 0, tzinfo=UTC)
    assert quiet.quiet_until(_utc("2024-05-02 03:00")) == _utc("2024-05-02 06:00")
    assert quiet.quiet_until(_utc("2024-05-01 22:00")) == _utc("2024-05-02 06:00")
    assert quiet.quiet_until(_utc("2024-05-02 06:00")) is None
    assert quiet.quiet_until(_utc("2024-05-01 12:00")) is None
    assert quiet.quiet_until(_utc("2024-05-01 21:59")) is None


def test_quiet_hours_within_a_day_never_and_disabled() -> None:
    noon = QuietHours(start=time(12, 0), end=time(14, 0))
    assert noon.quiet_until(_utc("2024-05-01 13:00")) == _utc("2024-05-01 14:00")
    assert noon.quiet_until(_utc("2024-05-01 14:00")) is None
    assert noon.quiet_until(_utc("2024-05-01 23:00")) is None
    never = QuietHours(start=time(22, 0), end=time(22, 0))
    assert never.quiet_until(_utc("2024-05-01 23:30")) is None
    off = QuietHours(enabled=False)
    assert off.quiet_until(_utc("2024-05-01 23:30")) is None
    with pytest.raises(ValueError, match="timezone-aware"):
        QuietHours().quiet_until(datetime(2024, 5, 1, 23, 30))  # noqa: DTZ001


# ------------------------------------------------------------------------- retry, routes


def test_retry_delay_doubles_with_jitter_and_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    retry = RetryRule()  # 5 s, 600 s
    for _ in range(200):
        assert 4.0 <= retry.delay(1) <= 6.0
        assert 8.0 <= retry.delay(2) <= 12.0
        assert 16.0 <= retry.delay(3) <= 24.0
        assert 512.0 <= retry.delay(8) <= 600.0
        assert retry.delay(10) == 600.0
        assert retry.delay(10_000) == 600.0
    monkeypatch.setattr("alerts.config.random.uniform", lambda low, high: low)
    assert [retry.delay(n) for n in (1, 2, 3, 4)] == [4.0, 8.0, 16.0, 32.0]
    monkeypatch.setattr("alerts.config.random.uniform", lambda low, high: high)
    assert [retry.delay(n) for n in (1, 2, 3)] == [6.0, 12.0, 24.0]
    assert retry.delay(0) == 6.0  # before any failure counts as the first


def test_retry_max_under_first_is_an_error(tmp_path: Path) -> None:
    problem = _only_problem(tmp_path, "retry:\n  first_seconds: 60\n  max_seconds: 30\n")
    assert (problem.line, problem.key) == (3, "retry.max_seconds")


def test_routes_roles() -> None:
    routes = Routes()
    assert routes.roles("camera_down") == ["assignee", "technician"]
    assert routes.roles("site_offline") == ["assignee", "technician", "commune"]
    assert routes.roles("task_overdue", 1) == ["commune"]
    assert routes.roles("task_overdue", 2) == ["district"]
    assert routes.roles("ratio_low") == ["commune", "district"]
    assert routes.roles("digest") == ["commune"]
    routes.roles("digest").append("admin")  # a copy: the rules stay as loaded
    assert routes.digest == ["commune"]
    with pytest.raises(ValueError, match="level 1 or 2"):
        routes.roles("task_overdue")
    with pytest.raises(ValueError, match="unknown kind"):
        routes.roles("camera_exploded")
    assert Routes(digest=["commune", "district"]).roles("digest") == ["commune", "district"]
