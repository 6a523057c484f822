"""The e-mail channel of ``camnet alerts``: SMTP submission with aiosmtplib.

Import it from ``alerts.channels`` (the contract and the outcomes are described there).
One connection per message: alerts are few, and a fresh connection cannot have been
dropped by the server while idle. How a failure maps to an outcome depends on how far the
conversation got:

- before DATA (connect, STARTTLS, AUTH, MAIL, RCPT): refused, timed out or dropped ->
  RETRY; a 4xx answer -> RETRY; a 5xx answer (bad login, unknown recipient) -> FAILED.
- once DATA began: a 4xx/5xx answer still says "not taken" (RETRY / FAILED), but a
  timeout or a dropped connection leaves the server possibly holding the message ->
  UNCERTAIN (never sent twice).

Configuration faults that no retry heals (certificate not trusted, no STARTTLS offered,
no AUTH offered, bad address) -> FAILED with a hint saying what to change.
The types are imported inside functions because ``alerts.channels`` imports this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import TYPE_CHECKING

import aiosmtplib

from alerts.channel_config import EmailConfig

if TYPE_CHECKING:
    from alerts.channels import Message, Result

# Bodies and headers in 7-bit (quoted-printable/base64, RFC 2047): any server takes them.
_POLICY = SMTP.clone(cte_type="7bit")
# One ASCII address, nothing that could become a second header or a second recipient.
_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
)


def build_email(sender: str, address: str, message: Message) -> bytes:
    """Return the RFC 5322 bytes: UTF-8 Subject and text/plain body, Message-ID from the id."""
    mail = EmailMessage(policy=_POLICY)
    mail["From"] = sender
    mail["To"] = address
    mail["Subject"] = " ".join(message.subject.split())  # one line, whatever came in
    mail["Date"] = format_datetime(datetime.now(UTC))
    mail["Message-ID"] = f"<camnet-{message.delivery_id}@camnet>"
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies
    mail.set_content(message.text, charset="utf-8")
    return mail.as_bytes()


class EmailChannel:
    """Send each message in its own SMTP session (STARTTLS or implicit TLS, login)."""

    name = "email"

    def __init__(self, config: EmailConfig) -> None:
        self._config = config

    async def aclose(self) -> None:
        """Nothing to release: every send opens and closes its own connection."""

    async def send(self, address: str, message: Message) -> Result:
        """Submit ``message`` for ``address``; failures come back as results."""
        from alerts.channels import Outcome, Result

        if not _ADDRESS.match(address):
            return Result(
                Outcome.FAILED, f"địa chỉ e-mail sai / invalid e-mail address {address!r}"
            )
        config = self._config
        try:
            tls_context = (
                ssl.create_default_context(cafile=str(config.ca_file))
                if config.ca_file is not None
                else None
            )
        except (OSError, ssl.SSLError) as exc:
            return Result(Outcome.FAILED, f"không đọc được ca_file / cannot read ca_file: {exc}")
        password = config.password.get_secret_value() if config.password is not None else None
        smtp = aiosmtplib.SMTP(
            hostname=config.host,
            port=config.port,
            local_hostname=socket.gethostname() or "localhost",  # getfqdn may wait on DNS
            timeout=config.timeout,
            use_tls=config.ssl,
            start_tls=config.starttls and not config.ssl,
            tls_context=tls_context,
        )
        raw = build_email(config.sender, address, message)
        step, transport = "connect", None
        try:
            await smtp.connect()  # and STARTTLS when configured
            transport = smtp.transport
            if config.username is not None:
                step = "AUTH"
                await smtp.login(config.username, password or "")
            step = "MAIL"
            await smtp.mail(config.sender)
            step = "RCPT"
            await smtp.rcpt(address)
            step = "DATA"
            answer = await smtp.data(raw)
        except aiosmtplib.SMTPResponseException as exc:
            return _refused(exc, step)
        except (aiosmtplib.SMTPException, OSError) as exc:  # OSError covers ssl.SSLError
            return _broken(exc, step, password)
        else:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()  # the message is taken: a failing QUIT changes nothing
            return Result(Outcome.SENT, f"SMTP {answer.code} {' '.join(answer.message.split())}")
        finally:
            # Drop the socket now, also when cancelled mid-send. A TLS goodbye (close_notify)
            # would wait for the peer and could outlive a stopping event loop, leaving the
            # socket open; after QUIT or a failure there is nothing more to say anyway.
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            smtp.close()


def _refused(exc: aiosmtplib.SMTPResponseException, step: str) -> Result:
    """The server answered no: 4xx try later, 5xx never (even during DATA: not taken)."""
    from alerts.channels import Outcome, Result

    detail = f"SMTP {exc.code} {' '.join(exc.message.split())} ({step})"
    if 400 <= exc.code < 500:
        return Result(Outcome.RETRY, detail)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return Result(Outcome.FAILED, f"{detail}: kiểm tra username/password / check the login")
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return Result(Outcome.FAILED, f"{detail}: người nhận bị từ chối / recipient refused")
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return Result(Outcome.FAILED, f"{detail}: kiểm tra sender / check the sender address")
    if 500 <= exc.code < 600 or step != "DATA":
        return Result(Outcome.FAILED, detail)
    return Result(Outcome.UNCERTAIN, detail)  # an answer outside SMTP's codes, mid-DATA


def _broken(exc: Exception, step: str, password: str | None) -> Result:
    """No usable answer: the connection failed, timed out or was dropped."""
    from alerts.channels import Outcome, Result

    detail = f"{type(exc).__name__}: {exc} ({step})"
    if password:
        detail = detail.replace(password, "***")
    if step == "DATA":
        return Result(Outcome.UNCERTAIN, f"{detail}: có thể đã nhận / the server may have it")
    causes = _chain(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in causes):
        hint = "chứng chỉ không tin được, kiểm tra ca_file / certificate not trusted: check ca_file"
        return Result(Outcome.FAILED, f"{detail}: {hint}")
    if any(type(e) is ssl.SSLError for e in causes):  # e.g. TLS spoken to a plain port
        hint = "kiểm tra ssl/starttls và port / check ssl, starttls and the port"
        return Result(Outcome.FAILED, f"{detail}: {hint}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or type(exc) is aiosmtplib.SMTPException:
        # STARTTLS or AUTH not offered, ...: the configuration must change, not the time.
        hint = "kiểm tra starttls/ssl/username / check starttls, ssl and the login settings"
        return Result(Outcome.FAILED, f"{detail}: {hint}")
    return Result(Outcome.RETRY, detail)


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and its causes (aiosmtplib wraps the OSError of a failed connect)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
