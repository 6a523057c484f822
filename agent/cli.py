"""The agent's subcommands of ``camnet``: each module adds its own parser.

Each module keeps its heavy imports (cv2, av) inside its handler so that ``camnet --help``
stays fast.
"""

from __future__ import annotations

import argparse

from agent import assess, daemon, probe
from agent.simulator import cli as simulator_cli


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the agent's subcommands to ``sub``."""
    simulator_cli.add_parser(sub)
    probe.add_parser(sub)
    assess.add_parser(sub)
    daemon.add_parser(sub)
