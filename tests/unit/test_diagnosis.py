"""Diagnosis: the problem key and the Vietnamese advice from the agent's faults and causes."""

from __future__ import annotations

import pytest

from agent.messages import CAUSES, FAULTS
from api.diagnosis import (
    ADVICE,
    CAUSE_PROBLEM,
    FAULT_LABEL,
    FAULT_ORDER,
    PROBLEMS,
    diagnose,
    diagnose_site,
)
from api.task_rules import GraceSeconds


def test_every_cause_and_fault_of_the_agent_has_a_problem_and_advice() -> None:
    assert set(CAUSE_PROBLEM) == set(CAUSES)
    assert set(FAULT_ORDER) == set(FAULTS) == set(FAULT_LABEL)
    assert set(CAUSE_PROBLEM.values()) <= set(ADVICE)
    assert set(FAULT_ORDER) <= set(ADVICE)


def test_every_problem_has_a_grace_key_and_nothing_else() -> None:
    keys = set(GraceSeconds.model_fields) - {"default"}
    assert keys == set(PROBLEMS) - {"offline_site"}  # sites use site_grace


@pytest.mark.parametrize("cause", ["unreachable", "timeout"])
def test_no_network_or_power(cause: str) -> None:
    found = diagnose("down", [], cause)
    assert found.problem == "offline"
    assert "kiểm tra nguồn điện và dây mạng" in found.vi.lower()
    assert "adapter PoE" in found.vi
    assert "máy test cáp" in found.vi
    assert "cable tester" in found.en


def test_refused_and_timeout_say_which() -> None:
    assert "từ chối" in diagnose("down", [], "unreachable").vi
    assert "không phản hồi" in diagnose("down", [], "timeout").vi


def test_auth_failure_points_at_the_nvr_password() -> None:
    found = diagnose("down", [], "auth_failed")
    assert found.problem == "auth_failed"
    assert "mật khẩu" in found.vi
    assert "đầu ghi (NVR)" in found.vi
    assert "password" in found.en


@pytest.mark.parametrize(
    ("faults", "problem", "vi"),
    [
        (["covered"], "covered", "gỡ vật che"),
        (["blurred"], "blurred", "chỉnh lại tiêu cự"),
        (["moved"], "moved", "ảnh chụp tham chiếu"),
        (["too_dark"], "too_dark", "đèn hồng ngoại"),
        (["frozen"], "frozen", "Khởi động lại camera"),
        (["black"], "black", "Hình đen"),
        (["no_audio"], "no_audio", "micro"),
    ],
)
def test_picture_faults(faults: list[str], problem: str, vi: str) -> None:
    found = diagnose("degraded", faults, None)
    assert found.problem == problem
    assert vi in found.vi


def test_cause_wins_over_faults_and_down_faults_over_degraded_ones() -> None:
    assert diagnose("down", ["blurred"], "no_keyframe").problem == "no_picture"
    found = diagnose("down", ["noisy", "blurred", "covered"], None)
    assert found.problem == "covered"
    assert "Ngoài ra: hình mờ, hình nhiễu." in found.vi
    assert "Also: blurred, noisy." in found.en


def test_nothing_known_is_an_unknown_fault() -> None:
    assert diagnose("degraded", [], None).problem == "unknown_fault"
    assert diagnose("degraded", ["not_a_fault"], None).problem == "unknown_fault"


def test_texts_are_vietnamese_with_diacritics() -> None:
    for problem, (vi, en) in ADVICE.items():
        assert vi != en, problem
        assert any(ch in vi for ch in "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ"), (
            problem
        )


def test_site_diagnosis_names_the_nvr_power_uplink_and_4g() -> None:
    found = diagnose_site(["cam-1", "cam-2", "cam-3"], "Nhà văn hoá thôn 2")
    assert found.problem == "offline_site"
    assert "3 camera" in found.vi
    assert "Nhà văn hoá thôn 2" in found.vi
    for words in ("nguồn điện", "đầu ghi NVR", "uplink", "4G"):
        assert words in found.vi
    assert "4G router" in found.en
