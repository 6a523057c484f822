"""Print where every asyncio task waits, shortly before pytest-timeout stops a test.

pytest-timeout dumps the threads, and for an asyncio test those only show the event
loop's ``select``: the task that never ends is not in them. A timer thread finds the
loop in the main thread's frames and has it print each task's chain of awaits.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from types import FrameType
from typing import Any


def _loop_of(frame: FrameType | None) -> asyncio.AbstractEventLoop | None:
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, asyncio.AbstractEventLoop) and candidate.is_running():
            return candidate
        frame = frame.f_back
    return None


def awaits(task: asyncio.Task[Any]) -> list[str]:
    """``task``'s chain of awaits, outermost first, as ``file:line function``."""
    chain: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return chain


def _print_tasks() -> None:
    lines = ["", "~~~~~~~~ asyncio tasks before the timeout ~~~~~~~~"]
    for task in asyncio.all_tasks():
        lines.append(f"{task.get_name()}:")
        lines.extend(f"    {where}" for where in awaits(task))
    sys.stderr.write("\n".join(lines) + "\n")


def dump_before(seconds: float) -> threading.Timer:
    """Start a timer that prints the main thread loop's tasks after ``seconds``."""

    def fire() -> None:
        loop = _loop_of(sys._current_frames().get(threading.main_thread().ident or 0))
        if loop is not None:
            loop.call_soon_threadsafe(_print_tasks)

    timer = threading.Timer(seconds, fire)
    timer.name = "hang-dump"
    timer.daemon = True
    timer.start()
    return timer
