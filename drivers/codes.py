"""Alarm and error codes, loaded from codes.toml: one table for firmware, host and docs."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from enum import Enum
from importlib import resources
from types import MappingProxyType


class Severity(Enum):
    STOP = "stop"
    ADVISORY = "advisory"


@dataclass(frozen=True)
class AlarmCode:
    name: str
    code: int
    severity: Severity
    forces_homing: bool
    text: str
    action: str
    """What a person does about it, in the clinic's words."""


@dataclass(frozen=True)
class ErrorCode:
    name: str
    code: int
    text: str


def _load() -> tuple[dict[str, AlarmCode], dict[str, ErrorCode]]:
    data = tomllib.loads(resources.files("drivers").joinpath("codes.toml").read_text("utf-8"))
    alarms = {name: AlarmCode(name=name, code=v["code"], severity=Severity(v["severity"]),
                              forces_homing=v["forces_homing"], text=v["text"],
                              action=v["action"])
              for name, v in data["alarm"].items()}
    errors = {name: ErrorCode(name=name, code=v["code"], text=v["text"])
              for name, v in data["error"].items()}
    return alarms, errors


_ALARMS, _ERRORS = _load()
ALARMS = MappingProxyType(_ALARMS)
ERRORS = MappingProxyType(_ERRORS)
ALARMS_BY_CODE = MappingProxyType({a.code: a for a in _ALARMS.values()})
ERRORS_BY_CODE = MappingProxyType({e.code: e for e in _ERRORS.values()})


def alarm(name: str) -> AlarmCode:
    return ALARMS[name]


def error(name: str) -> ErrorCode:
    return ERRORS[name]


def alarm_name(code: int) -> str:
    return ALARMS_BY_CODE[code].name if code in ALARMS_BY_CODE else f"alarm 0x{code:04X}"


def error_name(code: int) -> str:
    return ERRORS_BY_CODE[code].name if code in ERRORS_BY_CODE else f"error 0x{code:04X}"
