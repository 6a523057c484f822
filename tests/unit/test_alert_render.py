"""Rendering notices: every kind in both languages, local times, durations, links, limits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from alerts.notice import KINDS, CameraItem, Notice
from alerts.render import MAX_LISTED, SUBJECT_MAX, duration_text, render

URL = "https://camnet.example.vn"
AT = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)  # 10:00 01/05/2024 in Vietnam
SINCE = AT - timedelta(hours=1, minutes=30)  # 08:30 local
MAP = "https://www.openstreetmap.org/?mlat=21.0285&mlon=105.8542#map=18/21.0285/105.8542"
DOWN = CameraItem(
    camera_id="cam-1",
    problem="offline",
    diagnosis="Mất điện hoặc mất mạng: kiểm tra nguồn",
    diagnosis_en="No power or network: check the power supply",
    since=SINCE,
    priority="hotspot",
    lat=21.0285,
    lon=105.8542,
    task_id=42,
)
BLACK = CameraItem("cam-2", "black", "Hình đen", "Black picture", SINCE, "main_road")


def notice(kind: str, *items: CameraItem, **fields: Any) -> Notice:
    return Notice(kind, "00127", "Xã An Khánh", AT, items, **fields)


def many(n: int) -> tuple[CameraItem, ...]:
    return tuple(replace(BLACK, camera_id=f"cam-{i:02d}", priority="normal") for i in range(n))


SAMPLES = {
    "camera_down": notice("camera_down", DOWN),
    "camera_recovered": notice("camera_recovered", replace(DOWN, repair_seconds=5400)),
    "site_offline": notice("site_offline", DOWN, BLACK, site_name="NVR thôn 3", task_id=7),
    "site_recovered": notice(
        "site_recovered",
        replace(DOWN, repair_seconds=5400),
        replace(BLACK, repair_seconds=5400),
        site_name="NVR thôn 3",
        task_id=7,
    ),
    "task_overdue": notice(
        "task_overdue", DOWN, task_id=42, level=1, deadline=AT - timedelta(hours=5)
    ),
    "ratio_low": notice("ratio_low", DOWN, ratio=0.7, working=7, installed=10, threshold=0.8),
    "ratio_recovered": notice(
        "ratio_recovered", ratio=0.9, working=9, installed=10, threshold=0.85
    ),
    "digest": notice(
        "digest", DOWN, ratio=0.875, working=7, installed=8, open_tasks=3, overdue_tasks=1
    ),
}


def test_samples_cover_every_kind() -> None:
    assert set(SAMPLES) == set(KINDS)


# ------------------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("seconds", "vi", "en"),
    [
        (-5, "dưới 1 phút", "under 1 min"),
        (0, "dưới 1 phút", "under 1 min"),
        (59.9, "dưới 1 phút", "under 1 min"),
        (60, "1 phút", "1 min"),
        (5400, "1 giờ 30 phút", "1 h 30 min"),
        (7200, "2 giờ", "2 h"),
        (7500, "2 giờ 5 phút", "2 h 5 min"),
        (86400, "1 ngày", "1 d"),
        (3 * 86400 + 4 * 3600 + 59 * 60, "3 ngày 4 giờ", "3 d 4 h"),
    ],
)
def test_duration_text(seconds: float, vi: str, en: str) -> None:
    assert duration_text(seconds, "vi") == vi
    assert duration_text(seconds, "en") == en
    assert duration_text(seconds, "fr") == vi  # anything but English is Vietnamese


# ------------------------------------------------------------------------- every kind


@pytest.mark.parametrize("language", ["vi", "en"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_in_both_languages(kind: str, language: str) -> None:
    rendered = render(SAMPLES[kind], language, URL + "/")
    assert rendered.subject.startswith("[camnet] ")
    assert rendered.subject.endswith(" — Xã An Khánh")
    assert "\n" not in rendered.subject
    assert len(rendered.subject) <= SUBJECT_MAX
    assert "Xã An Khánh (00127)" in rendered.text
    assert "10:00 01/05/2024" in rendered.text
    assert rendered.text.endswith("\n")
    assert "\n\n\n" not in rendered.text
    assert "None" not in rendered.text
    assert "None" not in rendered.subject
    payload = json.loads(json.dumps(rendered.payload))
    assert payload["kind"] == kind
    assert payload["commune"] == {"code": "00127", "name": "Xã An Khánh"}
    assert payload["at"] == "2024-05-01T03:00:00+00:00"
    assert payload["language"] == language
    if SAMPLES[kind].items:
        assert "cam-1" in rendered.text
        assert payload["items"][0]["camera_id"] == "cam-1"
        assert payload["items"][0]["task_url"] == f"{URL}/tasks/42"


def test_camera_down_vi() -> None:
    rendered = render(SAMPLES["camera_down"], "vi", URL)
    assert rendered.subject == "[camnet] Camera hỏng (điểm nóng): cam-1 — Xã An Khánh"
    assert rendered.text == (
        "Camera cam-1 của Xã An Khánh (00127) đang hỏng.\n"
        "\n"
        "• cam-1 — ưu tiên: điểm nóng\n"
        "  Sự cố: Mất điện hoặc mất mạng: kiểm tra nguồn\n"
        "  Hỏng từ 08:30 01/05/2024 (đã 1 giờ 30 phút)\n"
        f"  Bản đồ: {MAP}\n"
        f"  Nhiệm vụ: {URL}/tasks/42\n"
        "\n"
        "camnet — 10:00 01/05/2024 (giờ Việt Nam)\n"
    )


def test_camera_down_en() -> None:
    rendered = render(SAMPLES["camera_down"], "en", URL)
    assert rendered.subject == "[camnet] Camera down (hotspot): cam-1 — Xã An Khánh"
    assert "Camera cam-1 of Xã An Khánh (00127) is down." in rendered.text
    assert "  Problem: No power or network: check the power supply\n" in rendered.text
    assert "  Down since 08:30 01/05/2024 (for 1 h 30 min)\n" in rendered.text
    assert f"  Map: {MAP}\n" in rendered.text
    assert f"  Task: {URL}/tasks/42\n" in rendered.text
    assert rendered.text.endswith("camnet — 10:00 01/05/2024 (Vietnam time)\n")


def test_several_cameras_down_without_task_or_place() -> None:
    plain = replace(BLACK, since=AT - timedelta(days=3, hours=4, minutes=10))
    rendered = render(notice("camera_down", DOWN, plain), "vi", URL)
    assert rendered.subject == "[camnet] 2 camera hỏng (điểm nóng): cam-1, cam-2 — Xã An Khánh"
    assert "2 camera của Xã An Khánh (00127) đang hỏng." in rendered.text
    assert (
        "• cam-2 — ưu tiên: trục đường chính\n"
        "  Sự cố: Hình đen\n"
        "  Hỏng từ 05:50 28/04/2024 (đã 3 ngày 4 giờ)\n"
        f"  Camera: {URL}/cameras/cam-2\n"
    ) in rendered.text
    assert rendered.payload["items"][1]["task_url"] is None
    assert rendered.payload["items"][1]["camera_url"] == f"{URL}/cameras/cam-2"
    assert rendered.payload["items"][1]["since"] == "2024-04-27T22:50:00+00:00"
    assert rendered.payload["task_url"] is None  # two cameras, two tasks: none for the notice
    assert rendered.payload["priority"] == "hotspot"


def test_one_camera_notice_points_at_its_task() -> None:
    payload = render(SAMPLES["camera_down"], "vi", URL).payload
    assert (payload["task_id"], payload["task_url"]) == (42, f"{URL}/tasks/42")


def test_a_missing_diagnosis_falls_back() -> None:
    only_vi = replace(DOWN, diagnosis_en="")
    assert (
        "Problem: Mất điện hoặc mất mạng" in render(notice("camera_down", only_vi), "en", URL).text
    )
    bare = replace(DOWN, diagnosis="", diagnosis_en="")
    assert "Sự cố: offline" in render(notice("camera_down", bare), "vi", URL).text


def test_more_than_twenty_cameras_are_counted_not_listed() -> None:
    items = many(25)
    vi = render(notice("site_offline", *items, site_name="NVR thôn 3", task_id=7), "vi", URL)
    assert "• cam-19 (thường)\n" in vi.text
    assert "cam-20" not in vi.text
    assert "… và 5 camera khác\n" in vi.text
    assert "25 camera không theo dõi được:" in vi.text
    assert vi.subject == "[camnet] Mất kết nối điểm NVR thôn 3: 25 camera — Xã An Khánh"
    assert len(vi.payload["items"]) == 25  # the machines get every camera
    en = render(notice("camera_down", *items), "en", URL)
    assert en.text.count("• cam-") == MAX_LISTED
    assert "… and 5 more\n" in en.text
    assert en.subject == "[camnet] 25 cameras down: cam-00, cam-01, cam-02… — Xã An Khánh"
    exactly = render(notice("camera_down", *many(20)), "vi", URL)
    assert exactly.text.count("• cam-") == 20
    assert "camera khác" not in exactly.text


def test_camera_recovered_says_how_long_it_was_down() -> None:
    vi = render(SAMPLES["camera_recovered"], "vi", URL)
    assert vi.subject == "[camnet] Camera hoạt động lại: cam-1 — Xã An Khánh"
    assert "Camera cam-1 của Xã An Khánh (00127) đã hoạt động lại." in vi.text
    assert "  Đã hỏng 1 giờ 30 phút (từ 08:30 01/05/2024)\n" in vi.text
    assert f"  Nhiệm vụ: {URL}/tasks/42\n" in vi.text
    en = render(SAMPLES["camera_recovered"], "en", URL)
    assert "  Was down 1 h 30 min (since 08:30 01/05/2024)\n" in en.text
    assert en.payload["items"][0]["repair_seconds"] == 5400


def test_site_offline_lists_its_cameras_and_diagnosis() -> None:
    vi = render(SAMPLES["site_offline"], "vi", URL)
    assert vi.subject == "[camnet] Mất kết nối điểm NVR thôn 3: 2 camera (điểm nóng) — Xã An Khánh"
    assert (
        "Điểm NVR thôn 3 của Xã An Khánh (00127) mất kết nối từ 08:30 01/05/2024 "
        "(đã 1 giờ 30 phút).\n"
        "Sự cố: Mất điện hoặc mất mạng: kiểm tra nguồn; Hình đen\n"
    ) in vi.text
    assert f"• cam-1 (điểm nóng) — bản đồ: {MAP}\n• cam-2 (trục đường chính)\n" in vi.text
    assert f"Nhiệm vụ: {URL}/tasks/7\n" in vi.text
    assert vi.payload["site_name"] == "NVR thôn 3"
    assert vi.payload["task_url"] == f"{URL}/tasks/7"
    en = render(SAMPLES["site_offline"], "en", URL)
    assert en.subject == "[camnet] Site offline: NVR thôn 3, 2 cameras (hotspot) — Xã An Khánh"
    assert "has been offline since 08:30 01/05/2024 (for 1 h 30 min)." in en.text
    assert f"• cam-1 (hotspot) — map: {MAP}\n• cam-2 (main road)\n" in en.text


def test_site_recovered() -> None:
    vi = render(SAMPLES["site_recovered"], "vi", URL)
    assert vi.subject == "[camnet] Điểm NVR thôn 3 đã kết nối lại: 2 camera — Xã An Khánh"
    assert "Đã mất kết nối 1 giờ 30 phút (từ 08:30 01/05/2024)." in vi.text
    en = render(SAMPLES["site_recovered"], "en", URL)
    assert "is back online; 2 cameras work again." in en.text
    assert "It was offline for 1 h 30 min (since 08:30 01/05/2024)." in en.text
    assert f"Task: {URL}/tasks/7\n" in en.text


def test_task_overdue_levels() -> None:
    one = render(SAMPLES["task_overdue"], "vi", URL)
    assert one.subject == "[camnet] Quá hạn sửa chữa — báo cán bộ xã: cam-1 — Xã An Khánh"
    assert one.text.startswith("Quá hạn sửa chữa — báo cán bộ xã (mức 1).\n")
    assert (
        "Nhiệm vụ #42 của Xã An Khánh (00127) đã quá hạn 5 giờ; hạn sửa là 05:00 01/05/2024."
        in one.text
    )
    assert f"Nhiệm vụ: {URL}/tasks/42\n" in one.text
    two = render(replace(SAMPLES["task_overdue"], level=2), "vi", URL)
    assert two.subject == "[camnet] Quá hạn sửa chữa — báo cấp huyện: cam-1 — Xã An Khánh"
    assert "đề nghị cấp huyện đôn đốc" in two.text
    en = render(replace(SAMPLES["task_overdue"], level=2), "en", URL)
    assert en.subject == "[camnet] Repair overdue — to the district: cam-1 — Xã An Khánh"
    assert (
        "Task #42 of Xã An Khánh (00127) is 5 h overdue; the deadline was 05:00 01/05/2024."
        in en.text
    )
    assert en.payload["deadline"] == "2024-04-30T22:00:00+00:00"
    assert en.payload["level"] == 2


def test_ratio_notices() -> None:
    low = render(SAMPLES["ratio_low"], "vi", URL)
    assert low.subject == "[camnet] Tỉ lệ camera hoạt động thấp: 70% — Xã An Khánh"
    assert "Xã An Khánh (00127): chỉ 7/10 camera hoạt động (70%), dưới ngưỡng 80%." in low.text
    assert f"{URL}/cameras?commune=00127" in low.text
    assert (low.payload["ratio"], low.payload["threshold"]) == (0.7, 0.8)
    back = render(SAMPLES["ratio_recovered"], "en", URL)
    assert back.subject == "[camnet] Working cameras back up: 90% — Xã An Khánh"
    assert "9/10 cameras working (90%), back at the 85% threshold." in back.text
    assert back.payload["items"] == []


def test_digest() -> None:
    vi = render(SAMPLES["digest"], "vi", URL)
    assert vi.subject == "[camnet] Báo cáo ngày 01/05/2024: 87,5% camera hoạt động — Xã An Khánh"
    assert "Camera hoạt động: 7/8 (87,5%)\n" in vi.text
    assert "Nhiệm vụ sửa chữa đang mở: 3, trong đó quá hạn: 1\n" in vi.text
    assert (
        "Camera đang hỏng (1):\n"
        "• cam-1 (điểm nóng): Mất điện hoặc mất mạng: kiểm tra nguồn; đã hỏng 1 giờ 30 phút\n"
        f"  {URL}/tasks/42\n"
    ) in vi.text
    en = render(SAMPLES["digest"], "en", URL)
    assert "Cameras working: 7/8 (87.5%)\n" in en.text
    assert "Open repair tasks: 3, overdue: 1\n" in en.text
    calm = render(replace(SAMPLES["digest"], items=()), "vi", URL)
    assert "Không có camera nào đang hỏng." in calm.text
    empty = render(replace(SAMPLES["digest"], ratio=None, working=0, installed=0), "en", URL)
    assert "Cameras working: 0/0 (—)\n" in empty.text


def test_local_time_crosses_the_date_line() -> None:
    late = replace(DOWN, since=datetime(2024, 4, 30, 17, 30, tzinfo=UTC))  # 00:30 on 1 May
    text = render(notice("camera_down", late), "vi", URL).text
    assert "Hỏng từ 00:30 01/05/2024 (đã 9 giờ 30 phút)" in text


def test_long_subjects_are_cut_and_unknown_kinds_refused() -> None:
    long_name = replace(SAMPLES["camera_down"], commune_name="Xã " + "Rất Dài " * 30)
    rendered = render(long_name, "vi", URL)
    assert SUBJECT_MAX - 5 <= len(rendered.subject) <= SUBJECT_MAX
    assert rendered.subject.endswith("…")
    with pytest.raises(ValueError, match="unknown notice kind"):
        render(notice("camera_exploded", DOWN), "vi", URL)
