"""A plan held to the library's limits (profiles/library.py): a hard limit is never passed;
a soft limit only with an override that gives a reason and a person, and every soft limit
passed is returned to be recorded with the session. Plan and run call the same check, so
what a clinician previews is what may run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from injector.planner import Plan
from injector.remedies import Remedy, command_line, needing
from profiles.errors import EnvelopeError
from profiles.library import LIMIT_NAMES, Library, Limit


class LibraryNotSigned(EnvelopeError):
    """A clinic's library that no technician has signed: sessions do not run under it."""

    def __init__(self, library_hash: str) -> None:
        self.library_hash = library_hash
        super().__init__(f"the clinic's library ({library_hash}) is not signed: a technician "
                         f"signs it first ({command_line(Remedy.SIGN_LIBRARY)})")
        needing(self, Remedy.SIGN_LIBRARY)

    def _subject(self) -> str:
        return ""


def signature(store, library_hash: str) -> dict | None:
    """The record's signature of a clinic's library, if it has one: a library is signed
    once, and signing it again records nothing."""
    return next((change for change in store.library_changes()
                 if change["library_hash"] == library_hash), None)


def check_signed(library: Library, store) -> None:
    """A clinic's narrowed library runs only once a technician has signed it in the record."""
    if library.clinic_text is not None and not store.library_signed(library.hash):
        raise LibraryNotSigned(library.hash)


class LimitError(EnvelopeError):
    """A plan past a limit of the library: hard (never), or soft without an override."""

    def __init__(self, message: str, crossing: Crossing) -> None:
        self.crossing = crossing
        super().__init__(message, field=crossing.limit, value=crossing.value,
                         limit=crossing.bound)

    def _subject(self) -> str:
        return ""


@dataclass(frozen=True)
class Override:
    """Passing soft limits: why, and who takes the responsibility."""

    reason: str
    person: str


@dataclass(frozen=True)
class Crossing:
    limit: str
    kind: str
    """"soft" or "hard"."""
    value: float
    bound: float
    range: tuple[float, float]
    scope: str
    source: str

    def describe(self) -> dict:
        return asdict(self)

    def sentence(self) -> str:
        unit, what = LIMIT_NAMES[self.limit]
        low, high = self.range
        side = "over" if self.value > high else "under"
        return (f"{what} {self.value:g} {unit} is {side} the {self.kind} limit, {low:g} to "
                f"{high:g} {unit} for {self.scope}")


def plan_values(plan: Plan) -> dict[str, float]:
    s = plan.setting
    return {"depth_mm": s.depth_mm, "dose_ul": s.dose_ul, "shot_rate_hz": s.shot_rate_hz,
            "spacing_mm": s.spacing_mm, "session_volume_ml": plan.requested_ul / 1000,
            "session_shots": float(plan.shots)}


def _crossing(limit: Limit, value: float, kind: str) -> Crossing | None:
    low, high = limit.hard if kind == "hard" else limit.soft
    if low - 1e-9 <= value <= high + 1e-9:
        return None
    return Crossing(limit.name, kind, value, high if value > high else low, (low, high),
                    limit.scope, limit.source)


def check_plan(library: Library, plan: Plan, override: Override | None) -> tuple[Crossing, ...]:
    """The soft limits this plan passes (empty when none), or LimitError: the first hard
    limit passed, or a soft one passed without an override."""
    limits = library.limits_for(plan.preset.technique, plan.zone.name)
    values = plan_values(plan)
    for name, limit in limits.items():
        if (hard := _crossing(limit, values[name], "hard")) is not None:
            raise LimitError(f"{hard.sentence()}; a hard limit is never passed", hard)
    soft = tuple(c for name, limit in limits.items()
                 if (c := _crossing(limit, values[name], "soft")) is not None)
    if soft and override is None:
        raise needing(LimitError(f"{soft[0].sentence()}; passed only with "
                                 f"{command_line(Remedy.OVERRIDE)}", soft[0]),
                      Remedy.OVERRIDE)
    return soft
