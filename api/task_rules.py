"""When repair tasks are raised, how long they may take, when they escalate.

``TaskRules()`` holds the defaults; ``TaskRules.load(path)`` reads a YAML file of the same
keys (``deploy/tasks.example.yaml`` documents each one) where any key may be left out.
A wrong file raises :class:`RulesError` naming the file, the line, the key and what to
write instead, Vietnamese first — nothing half-loaded.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from collector.yaml_rules import RuleProblem, RulesError, load_yaml_model

__all__ = ["GraceSeconds", "RuleProblem", "RulesError", "SlaHours", "TaskRules"]

_SECONDS = "Giây / seconds; bỏ trống: dùng 'default' / leave out: use 'default'."


class GraceSeconds(BaseModel):
    """Seconds a problem must last before a task is raised, per problem key."""

    model_config = ConfigDict(extra="forbid")

    default: float = Field(1800, ge=0, description="Any problem not listed below.")
    offline: float | None = Field(900, ge=0, description="No power / network. " + _SECONDS)
    not_responding: float | None = Field(900, ge=0, description="Camera hung. " + _SECONDS)
    auth_failed: float | None = Field(None, ge=0, description="Wrong password. " + _SECONDS)
    wrong_path: float | None = Field(None, ge=0, description="No stream at path. " + _SECONDS)
    stream_error: float | None = Field(None, ge=0, description="RTSP error. " + _SECONDS)
    no_picture: float | None = Field(900, ge=0, description="No video arrives. " + _SECONDS)
    wrong_codec: float | None = Field(None, ge=0, description="Not H.264/H.265. " + _SECONDS)
    black: float | None = Field(900, ge=0, description="Black picture. " + _SECONDS)
    covered: float | None = Field(1800, ge=0, description="Lens covered. " + _SECONDS)
    frozen: float | None = Field(None, ge=0, description="Frozen picture. " + _SECONDS)
    moved: float | None = Field(3600, ge=0, description="Camera re-aimed. " + _SECONDS)
    blurred: float | None = Field(3600, ge=0, description="Blurred picture. " + _SECONDS)
    too_dark: float | None = Field(None, ge=0, description="Too dark. " + _SECONDS)
    too_bright: float | None = Field(None, ge=0, description="Too bright. " + _SECONDS)
    noisy: float | None = Field(None, ge=0, description="Noisy picture. " + _SECONDS)
    color_cast: float | None = Field(None, ge=0, description="Wrong colours. " + _SECONDS)
    low_resolution: float | None = Field(None, ge=0, description="Low resolution. " + _SECONDS)
    low_fps: float | None = Field(None, ge=0, description="Low frame rate. " + _SECONDS)
    no_audio: float | None = Field(None, ge=0, description="No audio. " + _SECONDS)
    unknown_fault: float | None = Field(None, ge=0, description="Unknown. " + _SECONDS)

    def seconds(self, problem: str) -> float:
        """The grace of ``problem`` (``default`` when unset or unknown)."""
        value = getattr(self, problem, None) if problem in type(self).model_fields else None
        return self.default if value is None else float(value)


class SlaHours(BaseModel):
    """Hours from raising a task to its deadline, by the camera's priority."""

    model_config = ConfigDict(extra="forbid")

    hotspot: float = Field(24, gt=0, description="Cameras watching a hotspot.")
    main_road: float = Field(48, gt=0, description="Cameras on a main road.")
    border: float = Field(48, gt=0, description="Cameras at a village/commune border.")
    normal: float = Field(72, gt=0, description="Every other camera (and unknown priorities).")

    def hours(self, priority: str) -> float:
        """The SLA of ``priority``; an unknown priority counts as ``normal``."""
        return (
            float(getattr(self, priority)) if priority in type(self).model_fields else self.normal
        )


class TaskRules(BaseModel):
    """Every rule ``camnet jobs`` applies to repair tasks."""

    model_config = ConfigDict(extra="forbid")

    grace: GraceSeconds = Field(
        default_factory=GraceSeconds, description="Seconds a problem lasts before a task."
    )
    sla_hours: SlaHours = Field(
        default_factory=SlaHours, description="Hours to the deadline, by camera priority."
    )
    verify_probes: int = Field(
        3, ge=1, description="Ok reports in a row (M) that prove a camera fixed."
    )
    reopen_days: float = Field(
        7, ge=0, description="A camera failing again within N days reopens its closed task."
    )
    escalate_district_after_hours: float = Field(
        24,
        ge=0,
        description="Level 1 (commune officer) at the deadline; level 2 (district) this many "
        "hours after it.",
    )
    site_grace: float = Field(
        900, ge=0, description="Seconds an agent/NVR is offline before a site task."
    )

    @classmethod
    def load(cls, path: str | Path) -> TaskRules:
        """Read the rules from a YAML file; keys left out keep their defaults.

        Raises:
            RulesError: The file cannot be read, is not YAML, or a key or value is wrong;
                every problem names the file, the line and what to write instead.
        """
        return load_yaml_model(cls, path, "docs/tasks.md")
