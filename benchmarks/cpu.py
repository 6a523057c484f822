"""CPU time of processes, from ``/proc`` (Linux): what a benchmark's servers spent."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()  # the fields after ``(comm)``


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU of ``pid`` (all its threads); with ``children`` also every live
    descendant's and the waited-for time of those that ended (PostgreSQL's backends).
    """
    try:
        fields = _stat(pid)
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime: children reaped
        for child in _children(pid):
            ticks += round(cpu_seconds(child, children=True) * _TICK)
    return ticks / _TICK


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:  # ppid
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def postmaster_pid(datadir: Path) -> int:
    """The PostgreSQL server's main process, from ``postmaster.pid``."""
    return int((datadir / "postmaster.pid").read_text().split()[0])
