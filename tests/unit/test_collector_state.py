"""The camera state machine: hysteresis both ways, backdating, unknown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from collector.state import Hysteresis, State, advance, to_unknown

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
RULES = Hysteresis(worse_after=3, worse_after_seconds=600, better_after=2)


def run(state: State, seq: list[str], step: float = 60) -> tuple[State, list[tuple[str, int]]]:
    """Feed statuses one minute apart; return the final state and (status, minute) changes."""
    changes = []
    for i, status in enumerate(seq):
        at = T0 + timedelta(seconds=step * i)
        state, change = advance(state, status, "", None, at, RULES)
        if change is not None:
            changes.append((change.status, int((change.at - T0).total_seconds() // 60)))
    return state, changes


def test_first_report_is_believed_at_once() -> None:
    state, changes = run(State("never_reported", T0), ["down"])
    assert state.status == "down"
    assert changes == [("down", 0)]


def test_down_needs_three_in_a_row_and_is_dated_to_the_first() -> None:
    _, changes = run(State("ok", T0), ["ok", "down", "down", "down", "down"])
    assert changes == [("down", 1)]


def test_a_single_blip_changes_nothing() -> None:
    state, changes = run(State("ok", T0), ["down", "down", "ok", "down", "ok", "ok"])
    assert changes == []
    assert state.status == "ok"
    assert state.pending_status is None


def test_down_after_seconds_when_reports_are_sparse() -> None:
    # two reports 11 minutes apart: the time rule (600 s) fires before the count rule
    _, changes = run(State("ok", T0), ["ok", "down", "down"], step=660)
    assert changes == [("down", 11)]


def test_recovery_needs_two_ok() -> None:
    state, changes = run(State("down", T0), ["down", "ok", "ok", "ok"])
    assert changes == [("ok", 1)]
    assert state.status == "ok"


def test_degraded_is_worse_than_ok_and_better_than_down() -> None:
    _, changes = run(State("ok", T0), ["degraded"] * 3 + ["down"] * 3 + ["degraded"] * 2)
    assert changes == [("degraded", 0), ("down", 3), ("degraded", 6)]


def test_faults_follow_the_latest_report_without_a_change() -> None:
    state = State("degraded", T0, faults="blurred")
    state, change = advance(state, "degraded", "noisy", None, T0 + timedelta(minutes=1), RULES)
    assert change is None
    assert state.faults == "noisy"


def test_unknown_from_the_agent_going_offline_and_back() -> None:
    state = State("ok", T0, last_report_at=T0)
    state, change = to_unknown(state, T0 + timedelta(minutes=5))
    assert change is not None
    assert (change.status, change.at) == ("unknown", T0 + timedelta(minutes=5))
    assert to_unknown(state, T0 + timedelta(minutes=9)) == (state, None)  # already unknown
    state, change = advance(state, "down", "", "unreachable", T0 + timedelta(minutes=10), RULES)
    assert change is not None
    assert (state.status, state.cause) == ("down", "unreachable")


def test_unknown_never_starts_before_the_current_status() -> None:
    state = State("down", T0 + timedelta(minutes=3))
    _, change = to_unknown(state, T0)
    assert change is not None
    assert change.at == T0 + timedelta(minutes=3)
