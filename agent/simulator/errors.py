"""Errors of the camera simulator.

::

    SimulatorError (ValueError)
    ├── UnknownCameraError   no camera has this id
    └── UnknownFaultError    the behaviour name is not one the simulator knows

``agent.simulator.scenario.ScenarioError`` (a ``ValueError``) reports bad scenario files.
"""

from __future__ import annotations


class SimulatorError(ValueError):
    """Base class of simulator errors; the message says what to do."""


class UnknownCameraError(SimulatorError):
    """No camera has this id."""


class UnknownFaultError(SimulatorError):
    """The behaviour name is not one the simulator knows."""
