"""The pre-treatment checklist: the seeds' contraindications and the needle and syringe checks,
answered before every treatment session and recorded with it.

A contraindication answered yes refuses the session unless a clinician overrides it with a
reason (recorded); a check answered no (the needle is not new and sterile, the syringe not
right) refuses it with no override: that is fixed at the gun, not argued. Answers come from
the terminal, a file (`--checklist FILE.json`: {"answered_by": NAME, "answers": {ID: true |
false}}) or, for the demo, from the program itself, and the record says which.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import Mapping

from injector.remedies import Remedy, command_line, needing
from profiles.errors import ProfileError


class Kind(Enum):
    CONTRAINDICATION = "contraindication"
    """Yes refuses, unless overridden with a reason."""
    CHECK = "check"
    """No refuses, always."""


@dataclass(frozen=True)
class Question:
    id: str
    kind: Kind
    text: str
    source: str


QUESTIONS = (
    Question("clotting_disorder", Kind.CONTRAINDICATION,
             "Does the patient have a blood clotting disorder, or take anticoagulants?",
             "seeds: contraindications"),
    Question("pregnancy_or_lactation", Kind.CONTRAINDICATION,
             "Is the patient pregnant or breastfeeding?", "seeds: contraindications"),
    Question("hypertension_stage_2_3", Kind.CONTRAINDICATION,
             "Does the patient have stage II-III hypertension?", "seeds: contraindications"),
    Question("skin_infection_at_site", Kind.CONTRAINDICATION,
             "Is there a skin infection or inflammation at the treatment site?",
             "seeds: contraindications"),
    Question("needle_new_and_sterile", Kind.CHECK,
             "Is a new, sterile needle of the planned type mounted?", "field practice"),
    Question("syringe_checked", Kind.CHECK,
             "Is the syringe filled with the intended drug, in date, and free of air?",
             "field practice"),
)
BY_ID = {q.id: q for q in QUESTIONS}
SOURCES = ("terminal", "file", "demo", "service")


class ChecklistError(ProfileError):
    """A checklist missing, incomplete, or answered in a way that refuses the session."""

    def _subject(self) -> str:
        return ""


@dataclass(frozen=True)
class Checklist:
    answers: Mapping[str, bool]
    answered_by: str
    source: str
    """How the answers came: terminal, file, demo (the program answered for a simulated
    patient) or service."""

    def __post_init__(self) -> None:
        missing = [q.id for q in QUESTIONS if q.id not in self.answers]
        unknown = sorted(set(self.answers) - set(BY_ID))
        if unknown:
            raise ChecklistError("is not a question of the checklist", field="checklist",
                                 value=unknown[0], limit=list(BY_ID))
        if missing:
            shown_ids = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more"
                                                  if len(missing) > 3 else "")
            raise ChecklistError(f"{len(missing)} question(s) not answered ({shown_ids}); "
                                 "answer every question", field="checklist",
                                 value=missing, limit=list(BY_ID))
        bad = [k for k, v in self.answers.items() if not isinstance(v, bool)]
        if bad:
            raise ChecklistError("must be answered true or false", field=f"checklist.{bad[0]}",
                                 value=self.answers[bad[0]], limit="true or false")
        if self.source not in SOURCES:
            raise ChecklistError(f"checklist source {self.source!r} is not one of "
                                 f"{', '.join(SOURCES)}")

    def refusals(self) -> list[Question]:
        """The checks answered no: the session cannot start, override or not."""
        return [q for q in QUESTIONS if q.kind is Kind.CHECK and not self.answers[q.id]]

    def contraindications(self) -> list[Question]:
        return [q for q in QUESTIONS if q.kind is Kind.CONTRAINDICATION and self.answers[q.id]]

    def check(self, override_reason: str | None) -> list[str]:
        """Refuse the session, or return the contraindications the override passes."""
        if failed := self.refusals():
            raise ChecklistError(f"checklist: {failed[0].text} answered no; fix it at the "
                                 "gun first (no override)")
        present = self.contraindications()
        if present and not override_reason:
            raise needing(ChecklistError(
                f"checklist: contraindication {present[0].id} answered yes; the session "
                f"needs {command_line(Remedy.OVERRIDE)}"), Remedy.OVERRIDE)
        return [q.id for q in present]

    def describe(self) -> dict:
        return asdict(self) | {"answers": dict(self.answers)}


def from_file(path: Path) -> Checklist:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8")[:100_000])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ChecklistError(f"checklist {path}: cannot be read as JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        raise ChecklistError(f"checklist {path}: expected {{\"answered_by\": NAME, "
                             "\"answers\": {QUESTION: true | false}}")
    by = data.get("answered_by")
    if not isinstance(by, str) or not by.strip() or not by.isprintable() or len(by) > 80:
        raise ChecklistError(f"checklist {path}: answered_by must name who asked the patient")
    return Checklist(data["answers"], by.strip(), "file")


def for_simulated_patient(program: str = "injector demo") -> Checklist:
    """A demo or a benchmark treats a simulated patient: the program answers, and the record
    says so."""
    return Checklist({q.id: q.kind is Kind.CHECK for q in QUESTIONS},
                     f"{program} (a simulated patient)", "demo")
