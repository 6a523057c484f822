"""The alert channels against real local servers: aiosmtpd with STARTTLS, one HTTP service.

Each test checks what the server received and the outcome the channel reported, including
the failures that decide between retrying and not (at-most-once): 4xx/5xx answers, a port
nobody listens on, an answer that never comes, a connection dropped mid-request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest

from alerts.channel_config import ChannelsConfig, EmailConfig
from alerts.channels import (
    Channel,
    EmailChannel,
    Message,
    Outcome,
    Result,
    TelegramChannel,
    WebhookChannel,
    ZaloChannel,
    build_channels,
    sign,
)
from tests.alert_servers import (
    SMTP_PASSWORD,
    WEBHOOK_SECRET,
    FakeHttpService,
    SmtpServer,
    smtp_service,
)
from tests.alert_servers import fake_http as fake_http  # fixture, found by name
from tests.alert_servers import smtp_server as smtp_server  # fixture, found by name
from tests.conftest import free_port

pytestmark = pytest.mark.timeout(30)

SUBJECT = "[camnet] Xã Tân Lập: camera Cổng UBND mất tín hiệu"
TEXT = (
    "Camera Cổng UBND (TL-01) không kết nối được từ 07:42 ngày 12/03.\n"
    "Kỹ thuật viên: kiểm tra nguồn điện và dây mạng tại tủ đầu ghi.\n"
    "Mở nhiệm vụ: https://camnet.example/tasks/17"
)
PAYLOAD = {"kind": "camera_down", "commune": "tan-lap", "cameras": ["TL-01"], "task_id": 17}


def message(delivery_id: str = "42", text: str = TEXT) -> Message:
    return Message(delivery_id=delivery_id, subject=SUBJECT, text=text, payload=PAYLOAD)


async def send_once(channel: Channel, address: str, sent: Message | None = None) -> Result:
    """Send one message and close the channel, as the outbox does at shutdown."""
    try:
        return await channel.send(address, sent or message())
    finally:
        await channel.aclose()


# E-mail -----------------------------------------------------------------------------------


async def test_email_starttls_login_delivers_vietnamese(smtp_server: SmtpServer) -> None:
    channel = EmailChannel(smtp_server.email_config())

    result = await channel.send("truong-cong-an@xa-tan-lap.test", message("42"))

    assert result.outcome is Outcome.SENT, result.detail
    [mail] = smtp_server.messages
    assert mail.tls
    assert mail.login == "canbo-xa"
    assert mail.mail_from == "camnet@ubnd-xa.test"
    assert mail.rcpt_tos == ("truong-cong-an@xa-tan-lap.test",)
    assert mail.message["Subject"] == SUBJECT
    assert mail.message["Message-ID"] == "<camnet-42@camnet>"
    assert mail.message["To"] == "truong-cong-an@xa-tan-lap.test"
    sent_at = parsedate_to_datetime(mail.message["Date"])
    assert abs(sent_at.timestamp() - time.time()) < 60
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content_charset() == "utf-8"
    # Text lines are CRLF in canonical form (RFC 2045), also inside base64.
    assert mail.message.get_content().replace("\r\n", "\n").rstrip("\n") == TEXT
    assert max(mail.raw) < 0x80, "7-bit on the wire: any relay takes it"
    await channel.aclose()


async def test_email_451_retry_then_delivered(smtp_server: SmtpServer) -> None:
    channel = EmailChannel(smtp_server.email_config())
    smtp_server.fail_next(1)

    first = await channel.send("ktv@xa-tan-lap.test", message("7"))
    second = await channel.send("ktv@xa-tan-lap.test", message("7"))

    assert first.outcome is Outcome.RETRY
    assert "451" in first.detail
    assert second.outcome is Outcome.SENT
    assert [m.message["Message-ID"] for m in smtp_server.messages] == ["<camnet-7@camnet>"]


async def test_email_recipient_refused_is_failed(smtp_server: SmtpServer) -> None:
    smtp_server.refuse("khong-ton-tai@xa-tan-lap.test")

    result = await EmailChannel(smtp_server.email_config()).send(
        "khong-ton-tai@xa-tan-lap.test", message()
    )

    assert result.outcome is Outcome.FAILED
    assert "550" in result.detail
    assert smtp_server.messages == []


async def test_email_server_down_is_retry() -> None:
    config = EmailConfig(host="127.0.0.1", port=free_port(), timeout=2)  # nobody listens

    result = await EmailChannel(config).send("ktv@xa-tan-lap.test", message())

    assert result.outcome is Outcome.RETRY, result.detail


async def test_email_wrong_password_is_failed_without_the_password(
    smtp_server: SmtpServer,
) -> None:
    config = smtp_server.email_config(password="sai-mat-khau-roi")

    result = await EmailChannel(config).send("ktv@xa-tan-lap.test", message())

    assert result.outcome is Outcome.FAILED
    assert "535" in result.detail
    assert "check the login" in result.detail
    assert "sai-mat-khau-roi" not in result.detail
    assert SMTP_PASSWORD not in result.detail
    assert smtp_server.messages == []


async def test_email_untrusted_certificate_is_failed(smtp_server: SmtpServer) -> None:
    config = smtp_server.email_config(ca_file=None)  # the system store lacks the test CA

    result = await EmailChannel(config).send("ktv@xa-tan-lap.test", message())

    assert result.outcome is Outcome.FAILED
    assert "ca_file" in result.detail
    assert smtp_server.messages == []


async def test_email_no_answer_after_data_is_uncertain(smtp_server: SmtpServer) -> None:
    smtp_server.hang_next(1, seconds=1.5)
    config = smtp_server.email_config(timeout=0.5)

    result = await EmailChannel(config).send("ktv@xa-tan-lap.test", message("9"))

    assert result.outcome is Outcome.UNCERTAIN, result.detail
    # Why not retry: the server took the message after all.
    taken = smtp_server.wait_for_messages(1, within=5)
    assert [m.message["Message-ID"] for m in taken] == ["<camnet-9@camnet>"]


async def test_email_bad_address_is_failed_without_connecting(tmp_path: Path) -> None:
    with smtp_service(tmp_path) as server:
        channel = EmailChannel(server.email_config())
        for address in ("no-at-sign", "a@b.test\r\nBcc: x@y.test", "a@b.test, c@d.test"):
            result = await channel.send(address, message())
            assert result.outcome is Outcome.FAILED, address
        assert server.messages == []


# Webhook ----------------------------------------------------------------------------------


async def test_webhook_body_headers_and_signature(fake_http: FakeHttpService) -> None:
    result = await send_once(WebhookChannel(fake_http.webhook_config()), "ubnd-xa", message("42"))

    assert result.outcome is Outcome.SENT, result.detail
    [request] = fake_http.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.signature_valid is True
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["user-agent"] == "camnet-alerts"
    assert request.headers["x-camnet-delivery"] == "42"
    timestamp = request.headers["x-camnet-timestamp"]
    assert abs(int(timestamp) - time.time()) < 5
    assert request.json == {"id": "42", "subject": SUBJECT, "text": TEXT, "data": PAYLOAD}
    assert "Cổng UBND".encode() in request.body, "UTF-8, not \\u escapes"
    signature = request.headers["x-camnet-signature"]
    assert signature == "sha256=" + sign(WEBHOOK_SECRET.encode(), timestamp, request.body)
    assert signature != "sha256=" + sign(b"another-secret-16chars", timestamp, request.body)
    later = str(int(timestamp) + 60)  # the same body replayed under another timestamp
    assert signature != "sha256=" + sign(WEBHOOK_SECRET.encode(), later, request.body)


async def test_webhook_wrong_secret_is_refused_by_receiver(fake_http: FakeHttpService) -> None:
    result = await send_once(
        WebhookChannel(fake_http.webhook_config(secret="khong-phai-bi-mat-nay")), "ubnd-xa"
    )

    assert fake_http.requests[0].signature_valid is False
    assert result.outcome is Outcome.FAILED
    assert result.detail.startswith("HTTP 401")
    assert "check the secret" in result.detail
    assert "khong-phai-bi-mat-nay" not in result.detail


async def test_webhook_404_is_failed(fake_http: FakeHttpService) -> None:
    result = await send_once(WebhookChannel(fake_http.webhook_config(path="/khong-co")), "ubnd-xa")

    assert result.outcome is Outcome.FAILED
    assert result.detail.startswith("HTTP 404")
    assert "check the url" in result.detail


async def test_given_client_is_used_and_left_open(fake_http: FakeHttpService) -> None:
    async with httpx.AsyncClient() as client:
        channel = WebhookChannel(fake_http.webhook_config(), client=client)
        assert (await channel.send("ubnd-xa", message())).outcome is Outcome.SENT
        await channel.aclose()
        assert not client.is_closed
        response = await client.post(fake_http.url("/khong-co"))
        assert response.status_code == 404


# Every HTTP channel: what decides between retrying and not --------------------------------

HTTP_KINDS = ["webhook", "telegram", "zalo"]
ADDRESSES = {"webhook": "ubnd-xa", "telegram": "12345", "zalo": "2468013579"}


def http_channel(
    kind: str, svc: FakeHttpService, timeout: float = 2.0, base_url: str | None = None
) -> Channel:
    """The ``kind`` channel talking to ``svc`` (or to ``base_url`` instead)."""
    if kind == "webhook":
        config = svc.webhook_config(timeout=timeout)
        url = config.url if base_url is None else f"{base_url}/hook"
        return WebhookChannel(config.model_copy(update={"url": url}))
    base = {"base_url": base_url or svc.base_url}
    if kind == "telegram":
        return TelegramChannel(svc.telegram_config(timeout=timeout).model_copy(update=base))
    return ZaloChannel(svc.zalo_config(timeout=timeout).model_copy(update=base))


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_http_5xx_is_retry_then_sent(fake_http: FakeHttpService, kind: str) -> None:
    fake_http.fail_next(1, status=503)
    channel = http_channel(kind, fake_http)

    first = await channel.send(ADDRESSES[kind], message("5"))
    second = await send_once(channel, ADDRESSES[kind], message("5"))

    assert first.outcome is Outcome.RETRY, first.detail
    assert "503" in first.detail
    assert fake_http.token not in first.detail
    assert second.outcome is Outcome.SENT, second.detail
    assert len(fake_http.requests) == 2


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_http_429_is_retry_after(fake_http: FakeHttpService, kind: str) -> None:
    fake_http.retry_after = 11  # Telegram: parameters.retry_after; others: Retry-After
    fake_http.fail_next(1, status=429)

    result = await send_once(http_channel(kind, fake_http), ADDRESSES[kind])

    assert result.outcome is Outcome.RETRY
    assert result.retry_after == 11
    assert "429" in result.detail


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_http_no_answer_in_time_is_uncertain(fake_http: FakeHttpService, kind: str) -> None:
    fake_http.hang_next(1, seconds=3)

    started = time.monotonic()
    result = await send_once(http_channel(kind, fake_http, timeout=0.5), ADDRESSES[kind])

    assert result.outcome is Outcome.UNCERTAIN, result.detail
    assert "ReadTimeout" in result.detail
    assert time.monotonic() - started < 2.5
    assert len(fake_http.requests) == 1, "it did arrive: sending again would repeat it"


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_http_connection_dropped_is_uncertain(fake_http: FakeHttpService, kind: str) -> None:
    fake_http.drop_next(1)

    result = await send_once(http_channel(kind, fake_http), ADDRESSES[kind])

    assert result.outcome is Outcome.UNCERTAIN, result.detail
    assert len(fake_http.requests) == 1


@pytest.mark.parametrize("kind", HTTP_KINDS)
async def test_http_nobody_listening_is_retry(fake_http: FakeHttpService, kind: str) -> None:
    closed = f"http://127.0.0.1:{free_port()}"

    result = await send_once(http_channel(kind, fake_http, base_url=closed), ADDRESSES[kind])

    assert result.outcome is Outcome.RETRY, result.detail
    assert fake_http.requests == []


# Telegram ---------------------------------------------------------------------------------


async def test_telegram_send_message(fake_http: FakeHttpService) -> None:
    result = await send_once(TelegramChannel(fake_http.telegram_config()), "-1001234567890")

    assert result.outcome is Outcome.SENT, result.detail
    assert result.detail == "message_id 1"
    [request] = fake_http.requests
    assert request.path == f"/bot{fake_http.token}/sendMessage"
    assert request.headers["content-type"].startswith("application/json")
    assert request.json == {
        "chat_id": "-1001234567890",
        "text": f"{SUBJECT}\n\n{TEXT}",
        "disable_web_page_preview": True,
    }


async def test_telegram_wrong_token_is_failed_and_token_stays_secret(
    fake_http: FakeHttpService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "987654321:AAF-token-sai-bi-lo-ra-ngoai"
    result = await send_once(TelegramChannel(fake_http.telegram_config(token=wrong)), "12345")

    assert result.outcome is Outcome.FAILED
    assert result.detail == "Telegram 401 Unauthorized: kiểm tra token / check the token"
    assert wrong not in result.detail
    assert "HTTP Request: POST" in caplog.text, "httpx logged the request..."
    assert wrong not in caplog.text, "...without the token"


async def test_telegram_long_text_truncated_to_4096(fake_http: FakeHttpService) -> None:
    long_text = "Danh sách camera hỏng: " + ", ".join(f"TL-{i:03d}" for i in range(900))
    result = await send_once(
        TelegramChannel(fake_http.telegram_config()), "12345", message(text=long_text)
    )

    assert result.outcome is Outcome.SENT, result.detail  # the fake refuses > 4096 with 400
    sent = fake_http.requests[0].json["text"]
    assert len(sent) == 4096
    assert sent.startswith(f"{SUBJECT}\n\nDanh sách")
    assert sent.endswith("…")


# Zalo -------------------------------------------------------------------------------------


async def test_zalo_send_message(fake_http: FakeHttpService) -> None:
    result = await send_once(ZaloChannel(fake_http.zalo_config()), "2468013579")

    assert result.outcome is Outcome.SENT, result.detail
    assert result.detail.startswith("message_id ")
    [request] = fake_http.requests
    assert request.path == "/v3.0/oa/message/cs"
    assert request.headers["access_token"] == fake_http.zalo_token
    assert request.json == {
        "recipient": {"user_id": "2468013579"},
        "message": {"text": f"{SUBJECT}\n\n{TEXT}"},
    }


async def test_zalo_invalid_token_is_failed(fake_http: FakeHttpService) -> None:
    result = await send_once(ZaloChannel(fake_http.zalo_config(token="het-han-roi")), "2468013579")

    assert result.outcome is Outcome.FAILED
    assert "-216" in result.detail
    assert "check the access token" in result.detail
    assert "het-han-roi" not in result.detail


async def test_zalo_long_text_truncated_to_2000(fake_http: FakeHttpService) -> None:
    result = await send_once(
        ZaloChannel(fake_http.zalo_config()), "2468013579", message(text="mất tín hiệu " * 300)
    )

    assert result.outcome is Outcome.SENT, result.detail  # the fake refuses > 2000 (-201)
    assert len(fake_http.requests[0].json["message"]["text"]) == 2000


# build_channels ---------------------------------------------------------------------------


async def test_build_channels_keys(fake_http: FakeHttpService, smtp_server: SmtpServer) -> None:
    config = ChannelsConfig(
        email=smtp_server.email_config(),
        telegram=fake_http.telegram_config(),
        zalo=fake_http.zalo_config(),
        webhooks=[fake_http.webhook_config("ubnd-xa"), fake_http.webhook_config("cong-an-huyen")],
    )

    channels = build_channels(config)

    kinds = {"email": "email", "telegram": "telegram", "zalo": "zalo"}
    kinds |= {"webhook:ubnd-xa": "webhook", "webhook:cong-an-huyen": "webhook"}
    assert {key: channel.name for key, channel in channels.items()} == kinds
    addresses = {"email": "ktv@xa-tan-lap.test", "telegram": "12345", "zalo": "2468013579"}
    for key, channel in channels.items():
        result = await send_once(channel, addresses.get(key, key))
        assert result.outcome is Outcome.SENT, (key, result.detail)
    assert len(smtp_server.messages) == 1
    assert sorted(r.path for r in fake_http.requests) == [
        f"/bot{fake_http.token}/sendMessage",
        "/hook",
        "/hook",
        "/v3.0/oa/message/cs",
    ]
    assert build_channels(ChannelsConfig()) == {}
    twice = ChannelsConfig(webhooks=[fake_http.webhook_config("a"), fake_http.webhook_config("a")])
    with pytest.raises(ValueError, match="two webhooks"):
        build_channels(twice)


def test_sign_is_hmac_over_timestamp_dot_body() -> None:
    body = json.dumps({"id": "1", "subject": "Mất tín hiệu"}, ensure_ascii=False).encode()
    expected = hmac.new(b"k" * 16, b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign(b"k" * 16, "1700000000", body) == expected
    assert sign(b"k" * 16, "1700000001", body) != expected
