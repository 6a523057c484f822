"""Errors of the API and the job process, with messages that say what to do.

Class tree::

    ApiError                 status, code, Vietnamese message, English message, hint
    ├── BadRequest           400: the request itself is wrong (what to send instead)
    ├── NotAuthenticated     401: log in or send a token
    ├── Forbidden            403: signed in but the role may not do this
    ├── NotFound             404: does not exist, or is outside the caller's communes
    ├── Conflict             409: the object is not in a state that allows this
    └── InvalidTransition    409: a repair task cannot move from one state to the other

One handler (``api.app``) turns every ``ApiError`` into ``{"error", "message",
"message_en", "hint"}`` JSON with its status; nothing else is caught there, so a server
error stays a 500 with a log line.
"""

from __future__ import annotations


class ApiError(Exception):
    """A domain error a client can act on."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, message_en: str, hint: str = "") -> None:
        """``message`` in Vietnamese, ``message_en`` in English, ``hint``: what to do."""
        super().__init__(message_en)
        self.message = message
        self.message_en = message_en
        self.hint = hint

    def body(self) -> dict[str, str]:
        """The JSON body the handler sends."""
        return {
            "error": self.code,
            "message": self.message,
            "message_en": self.message_en,
            "hint": self.hint,
        }


class BadRequest(ApiError):  # noqa: N818 - named after the HTTP status
    """400: the request is wrong."""


class NotAuthenticated(ApiError):  # noqa: N818 - named after the HTTP status
    """401: nobody is signed in."""

    status = 401
    code = "not_authenticated"

    def __init__(self) -> None:
        """Always the same message."""
        super().__init__(
            "Chưa đăng nhập.",
            "Not signed in.",
            "Đăng nhập tại /login, hoặc gửi 'Authorization: Bearer <token>' / log in at "
            "/login or send a bearer token",
        )


class Forbidden(ApiError):  # noqa: N818 - named after the HTTP status
    """403: the role may not do this."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):  # noqa: N818 - named after the HTTP status
    """404: no such thing in the caller's scope (out-of-scope objects look absent)."""

    status = 404
    code = "not_found"

    def __init__(self, what: str, key: object) -> None:
        """``what``: a short English noun (camera, commune, task, user)."""
        names = {"camera": "camera", "commune": "xã", "task": "nhiệm vụ", "user": "người dùng"}
        super().__init__(
            f"Không tìm thấy {names.get(what, what)} {key}.",
            f"No {what} {key}.",
            "Kiểm tra mã, hoặc quyền xem của bạn / check the id, or whether your role covers it",
        )


class Conflict(ApiError):  # noqa: N818 - named after the HTTP status
    """409: not possible in the object's current state."""

    status = 409
    code = "conflict"


class InvalidTransition(Conflict):
    """409: a repair task cannot go from ``current`` to ``wanted``."""

    code = "invalid_transition"

    def __init__(self, task_id: int, current: str, wanted: str, allowed: list[str]) -> None:
        """Name the states and what is possible from here."""
        options = ", ".join(allowed) or "—"
        super().__init__(
            f"Nhiệm vụ {task_id} đang ở trạng thái '{current}', không chuyển sang '{wanted}' được.",
            f"Task {task_id} is '{current}'; it cannot move to '{wanted}'.",
            f"Có thể chuyển sang / possible next states: {options}",
        )
        self.current, self.wanted, self.allowed = current, wanted, allowed
