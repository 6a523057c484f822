"""The dashboard pages on a real SQLite database, through the whole app (lifespan included).

The world (communes, cameras, users, tasks) is described in ``tests/pages_helpers.py``.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.i18n import Translator, catalog
from collector.db import create_schema, make_engine
from tests.pages_helpers import PASSWORD, app_client, communes_listed, csrf_of, login, seed

API = Path(__file__).resolve().parents[2] / "api"


@pytest.fixture(scope="module")
def seeded_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The database, built once: hashing four passwords per test would cost a second each."""
    path = tmp_path_factory.mktemp("pages") / "camnet.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    seed(engine)
    engine.dispose()
    return path


@pytest.fixture
def seeded(seeded_file: Path, tmp_path: Path) -> str:
    """A copy of the database for one test (tests change tasks and sessions)."""
    copy = tmp_path / "camnet.db"
    shutil.copyfile(seeded_file, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def client(seeded: str, tmp_path: Path) -> Iterator[TestClient]:
    yield from app_client(seeded, tmp_path)


# ------------------------------------------------------------------------------ sign-in


def test_pages_redirect_to_login_when_signed_out(client: TestClient) -> None:
    for path in ("/", "/district", "/map", "/my-tasks", "/tasks/1", "/cameras/a1"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/login?next={path}"
    page = client.get("/district")  # followed: the login form, in Vietnamese
    assert page.status_code == 200
    assert 'name="username"' in page.text
    assert 'name="password"' in page.text
    assert 'id="login-submit"' in page.text
    assert "Đăng nhập" in page.text


def test_wrong_password_is_refused_with_a_clear_message(client: TestClient) -> None:
    response = login(client, "admin", "not-the-password")
    assert response.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in response.text
    assert 'value="admin"' in response.text  # the username is kept in the form
    assert client.get("/district", follow_redirects=False).status_code == 303
    assert login(client, "nobody").status_code == 401


def test_login_goes_to_next_but_never_to_another_site(client: TestClient) -> None:
    response = login(client, "admin", next_="/map?commune=00002")
    assert (response.status_code, response.headers["location"]) == (303, "/map?commune=00002")
    client.post("/logout", data={"csrf": csrf_of(client.get("/district").text)})
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        assert login(client, "admin", next_=target).headers["location"] == "/"


def test_login_form_without_its_token_is_refused(client: TestClient) -> None:
    client.get("/login")
    form = {"username": "admin", "password": PASSWORD, "csrf": "forged"}
    response = client.post("/login", data=form, follow_redirects=False)
    assert response.status_code == 400
    assert client.get("/district", follow_redirects=False).status_code == 303


def test_logout_needs_the_form_token_and_ends_the_session(client: TestClient) -> None:
    login(client, "officer")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    token = csrf_of(client.get("/district").text)
    response = client.post("/logout", data={"csrf": token}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert client.get("/district", follow_redirects=False).status_code == 303


def test_home_sends_technicians_to_their_tasks(client: TestClient) -> None:
    login(client, "tech")
    assert client.get("/", follow_redirects=False).headers["location"] == "/my-tasks"
    client.post("/logout", data={"csrf": csrf_of(client.get("/my-tasks").text)})
    login(client, "officer")
    assert client.get("/", follow_redirects=False).headers["location"] == "/district"


# ----------------------------------------------------------------------------- district


def test_district_table_worst_first_and_sortable(client: TestClient) -> None:
    login(client, "admin")
    page = client.get("/district")
    assert page.status_code == 200
    html = page.text
    assert 'id="communes"' in html
    assert "Tỉ lệ camera hoạt động" in html
    assert communes_listed(html) == ["00003", "00001", "00002"]  # ratio 0, 2/3, 1
    row = html[html.index('data-commune="00001"') :].split("</tr>")[0]
    assert "2/3" in row
    assert "66,7 %" in row
    assert "3 ngày 4 giờ" in row  # a2's outage
    assert 'href="/map?commune=00001"' in row
    assert 'href="/cameras?commune=00001"' in row
    desc = client.get("/district?sort=ratio&dir=desc").text
    assert communes_listed(desc) == ["00002", "00001", "00003"]
    assert 'aria-sort="descending"' in desc
    by_down = client.get("/district?sort=down&dir=desc").text
    assert communes_listed(by_down)[-1] == "00002"  # no camera down
    by_overdue = client.get("/district?sort=overdue&dir=desc").text
    assert communes_listed(by_overdue)[0] == "00003"
    assert client.get("/district?sort=bogus").status_code == 200
    assert client.get("/district?dir=sideways").status_code == 422


def test_district_trend_chart_is_inline_svg(client: TestClient) -> None:
    login(client, "admin")
    html = client.get("/district").text
    svg = html[html.index('<svg id="trend"') : html.index("</svg>")]
    assert "<polyline" in svg
    assert svg.count("<circle") >= 25
    assert "<script" not in html  # no chart library


def test_officer_sees_only_their_commune(client: TestClient) -> None:
    login(client, "officer")
    assert communes_listed(client.get("/district").text) == ["00001"]


def test_coverage_percent_appears_once_computed(client: TestClient) -> None:
    login(client, "admin")
    client.app.state.coverage.refresh_now()  # type: ignore[attr-defined]
    html = client.get("/district").text
    row = html[html.index('data-commune="00001"') :].split("</tr>")[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells[-1].endswith("%"), cells


def test_english_switch_is_remembered(client: TestClient) -> None:
    login(client, "admin")
    english = client.get("/district?lang=en").text
    assert '<html lang="en">' in english
    assert "Working camera ratio" in english
    assert "Longest outage" in english
    assert "3 d 4 h" in english
    assert "Working camera ratio" in client.get("/district").text  # kept in the session
    assert "Repair tasks" in client.get("/my-tasks").text
    assert "Tỉ lệ camera hoạt động" in client.get("/district?lang=vi").text
    assert "Tỉ lệ camera hoạt động" in client.get("/district").text


# ---------------------------------------------------------------------------------- map


def test_map_uses_local_leaflet_and_no_other_host(client: TestClient) -> None:
    login(client, "officer")
    page = client.get("/map")
    assert page.status_code == 200
    html = page.text
    assert 'id="map"' in html
    assert 'data-commune="00001"' in html
    assert 'data-ready="0"' in html
    assert 'data-cameras="0"' in html
    assert 'src="/static/leaflet/leaflet.js"' in html
    assert 'href="/static/leaflet/leaflet.css"' in html
    assert 'src="/static/map.js"' in html
    assert 'data-tile-url=""' in html
    assert not re.search(r"https?://", html)
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "http" not in csp
    script = client.get("/static/map.js")
    assert script.status_code == 200
    assert not re.search(r"https?://", script.text)
    for asset in ("leaflet.js", "leaflet.css", "images/layers.png", "LICENSE"):
        assert client.get(f"/static/leaflet/{asset}").status_code == 200, asset
    assert client.get("/static/app.css").status_code == 200
    # what map.js fetches answers to the session cookie
    for key in ("cameras", "coverage", "areas"):
        url = re.search(rf'data-{key}-url="([^"]+)"', html)
        assert url, key
        assert client.get(url.group(1)).status_code == 200, url.group(1)


def test_map_with_a_tile_server(seeded: str, tmp_path: Path) -> None:
    tiles = "https://{s}.tile.example.org/{z}/{x}/{y}.png"
    for client in app_client(seeded, tmp_path, tile_url=tiles, tile_attribution="© Example"):
        login(client, "admin")
        page = client.get("/map?commune=00002")
        assert f'data-tile-url="{tiles}"' in page.text
        assert 'data-tile-attribution="© Example"' in page.text
        assert "https://*.tile.example.org" in page.headers["content-security-policy"]


def test_map_of_another_commune_is_not_found(client: TestClient) -> None:
    login(client, "officer")
    page = client.get("/map?commune=00003")
    assert page.status_code == 404
    assert "Không tìm thấy" in page.text
    assert "<html" in page.text


# ------------------------------------------------------------------------------ cameras


def test_camera_page(client: TestClient) -> None:
    login(client, "officer")
    page = client.get("/cameras/a2")
    assert page.status_code == 200
    html = page.text
    assert "Camera A2" in html
    assert 'data-status="down"' in html
    assert re.search(r'<img src="/api/v1/snapshots/\d+\.jpg"', html)
    timeline = html[html.index('<svg id="timeline"') :].split("</svg>")[0]
    assert 'data-status="ok"' in timeline
    assert 'data-status="down"' in timeline
    assert 'href="/tasks/1"' in html  # the open task
    assert "Ống kính bị che" in html  # the fault, translated
    snapshot = re.search(r'src="(/api/v1/snapshots/\d+\.jpg)"', html)
    assert snapshot
    assert client.get(snapshot.group(1)).status_code == 200


def test_camera_list_of_a_commune(client: TestClient) -> None:
    login(client, "admin")
    html = client.get("/cameras?commune=00003").text
    assert re.findall(r'data-camera="(\w+)"', html) == ["c1", "c2"]
    assert 'data-status="never_reported"' in html
    down = client.get("/cameras?status=down").text
    assert re.findall(r'data-camera="(\w+)"', down) == ["a2", "c1"]


def test_officer_gets_404_for_another_communes_pages(client: TestClient) -> None:
    login(client, "officer")
    token = csrf_of(client.get("/district").text)
    assert client.get("/cameras/c1").status_code == 404
    assert client.get("/cameras/no-such-camera").status_code == 404
    assert client.get("/cameras?commune=00003").status_code == 404
    assert client.get("/tasks/2").status_code == 404
    moved = client.post("/tasks/2/state", data={"state": "in_progress", "csrf": token})
    assert moved.status_code == 404
    assert client.get("/tasks/2").status_code == 404
    assert "/tasks/2" not in client.get("/my-tasks").text


# -------------------------------------------------------------------------------- tasks


def test_technician_list_is_phone_sized(client: TestClient) -> None:
    login(client, "tech")
    html = client.get("/my-tasks").text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    mine = html[html.index('id="section-mine"') : html.index('id="section-others"')]
    others = html[html.index('id="section-others"') :]
    assert 'data-task="1"' in mine
    assert 'data-task="3"' not in mine
    assert 'data-task="3"' in others
    assert 'data-task="2"' not in html  # another commune
    assert "Ống kính bị che: lau hoặc gỡ vật che." in mine
    assert "https://www.openstreetmap.org/?mlat=" in mine  # the directions link


def test_technician_reports_a_task_fixed_through_the_form(client: TestClient) -> None:
    login(client, "tech")
    page = client.get("/tasks/1").text
    assert re.search(r'id="task-state"[^>]*data-state="assigned"', page)
    assert 'name="state" value="reported_fixed"' in page
    assert "Đã sửa xong" in page
    form = {"state": "reported_fixed", "note": "Đã lau ống kính", "csrf": csrf_of(page)}
    response = client.post("/tasks/1/state", data=form, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/tasks/1")
    after = client.get("/tasks/1").text
    assert re.search(r'id="task-state"[^>]*data-state="reported_fixed"', after)
    assert "Đã chuyển sang: Báo đã sửa." in after
    assert "Đã lau ống kính" in after
    assert 'name="state" value="in_progress"' in after  # it can go back
    assert 'name="state" value="reported_fixed"' not in after
    assert "Đã chuyển sang" not in client.get("/tasks/1").text  # the message shows once


def test_a_refused_move_shows_the_domain_message(client: TestClient) -> None:
    login(client, "tech")
    token = csrf_of(client.get("/tasks/3").text)
    page = client.post("/tasks/3/state", data={"state": "verified", "csrf": token}).text
    assert 'class="flash flash-error"' in page
    assert "không chuyển sang" in page
    assert re.search(r'id="task-state"[^>]*data-state="open"', page)
    forged = client.post("/tasks/3/state", data={"state": "in_progress", "csrf": "forged"})
    assert forged.status_code == 403


def test_note_with_a_photo(client: TestClient) -> None:
    login(client, "tech")
    page = client.get("/tasks/3").text
    assert 'accept="image/*" capture="environment"' in page
    photo = ("after.png", b"\x89PNG\r\n\x1a\nfake", "image/png")
    after = client.post(
        "/tasks/3/notes",
        data={"note": "Cột điện bị đổ, cần xe thang", "csrf": csrf_of(page)},
        files={"photo": photo},
    ).text  # the redirect is followed: the task page
    assert "Đã lưu ghi chú." in after
    assert "Cột điện bị đổ, cần xe thang" in after
    src = re.search(r'<img class="photo" src="(/api/v1/tasks/3/photos/\d+)"', after)
    assert src
    assert client.get(src.group(1)).content == photo[1]
    empty = client.post("/tasks/3/notes", data={"note": " ", "csrf": csrf_of(after)})
    assert "Ghi chú trống." in empty.text


def test_read_only_reader_gets_no_forms(client: TestClient) -> None:
    login(client, "reader")
    page = client.get("/tasks/1").text
    assert 'id="task-state"' in page
    assert 'name="state"' not in page
    assert "note-form" not in page
    after = client.post("/tasks/1/state", data={"state": "in_progress", "csrf": csrf_of(page)}).text
    assert 'class="flash flash-error"' in after
    assert re.search(r'id="task-state"[^>]*data-state="assigned"', after)


# ----------------------------------------------------------------------------- language


def test_catalogues_have_the_same_keys_and_cover_the_templates() -> None:
    vi, en = catalog("vi"), catalog("en")
    assert set(vi) == set(en)
    used = set()
    for template in (API / "templates").glob("*.html"):
        used |= set(re.findall(r"\bt\('([a-z_]+\.[a-z_]+)'", template.read_text("utf-8")))
    assert used
    assert not used - set(vi), sorted(used - set(vi))
    assert vi["district.title"] == "Tỉ lệ camera hoạt động"


def test_durations_and_numbers_per_language() -> None:
    vi, en = Translator("vi"), Translator("en")
    seconds = 3 * 86400 + 4 * 3600 + 59
    assert (vi.duration(seconds), en.duration(seconds)) == ("3 ngày 4 giờ", "3 d 4 h")
    assert vi.duration(3 * 3600 + 120) == "3 giờ 2 phút"
    assert vi.duration(None) == "—"
    assert (vi.pct(0.875), en.pct(0.875), vi.pct(None)) == ("87,5 %", "87.5 %", "—")
    assert vi.label("status", "down") == "Hỏng"
    assert vi.label("fault", "new_fault") == "new_fault"
    assert Translator("fr").lang == "vi"
