"""The agent's subcommands of ``camnet``: each module adds its own parser.

Modules are imported here, but each keeps its heavy imports (cv2, av) inside the handler so
that ``camnet --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

SubParsers = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add the agent's subcommands (simulate, probe, assess, agent) to ``sub``."""
    del sub  # subcommands are added as their modules land
