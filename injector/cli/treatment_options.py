"""The options `plan` and `run` share, so what a clinician previews can be run as it is: the
changes to a preset, the override of soft limits, the checklist, and a saved plan.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from drivers.values import ValueRefused
from injector import inputs
from injector.checklist import QUESTIONS, Checklist, ChecklistError, from_file
from injector.cli.common import OptionRefused, add_value, typed, typed_path
from injector.planner import Overrides, Plan
from profiles.errors import ProfileError
from profiles.library import Library

PLAN_FORMAT = "injector-plan"
PLAN_FORMAT_VERSION = 1


class SavedPlanError(ProfileError):
    """A saved plan that may not run here: another library, another needle, or not a plan."""

    def _subject(self) -> str:
        return ""


def add_setting_overrides(parser: argparse.ArgumentParser) -> None:
    add_value(parser, "--depth-mm", inputs.DEPTH_MM, "override the preset's depth")
    add_value(parser, "--dose-ul", inputs.DOSE_UL, "override the preset's dose per point")
    add_value(parser, "--spacing-mm", inputs.SPACING_MM, "override the preset's spacing")
    add_value(parser, "--rate-hz", inputs.RATE_HZ, "override the preset's shot rate")


def add_limit_override(parser: argparse.ArgumentParser, person_default: str | None) -> None:
    parser.add_argument("--override", metavar="REASON", type=typed(inputs.REASON, "--override"),
                        help="pass the library's soft limits (and, for a run, contraindications "
                             "answered yes) for this reason, recorded with --person; never a "
                             "hard limit")
    if person_default is None:
        add_value(parser, "--person", inputs.PERSON, "who takes the responsibility for an "
                  "override (recorded)")


def setting_overrides(args: argparse.Namespace) -> Overrides:
    return Overrides(depth_mm=args.depth_mm, dose_ul=args.dose_ul,
                     spacing_mm=args.spacing_mm, shot_rate_hz=args.rate_hz)


def add_checklist_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checklist", metavar="FILE.json",
                        type=typed_path(lambda raw: Path(inputs.FILE_PATH.check(raw)),
                                        "--checklist"),
                        help="the pre-treatment checklist's answers: {\"answered_by\": NAME, "
                             "\"answers\": {QUESTION: true|false}} (at a terminal, the "
                             "questions are asked instead)")


def collect_checklist(args: argparse.Namespace) -> Checklist:
    """The checklist's answers: from the file, or asked at a terminal; otherwise refused,
    naming what is missing. Before anything opens."""
    if args.checklist is not None:
        return from_file(args.checklist)
    if not sys.stdin.isatty():
        raise ChecklistError("the pre-treatment checklist is not answered: give --checklist "
                             f"FILE.json answering {', '.join(q.id for q in QUESTIONS)}")
    print("Pre-treatment checklist (answer y or n):", file=sys.stderr)
    answers = {}
    for question in QUESTIONS:
        while True:
            sys.stderr.write(f"  {question.text} [y/n] ")
            sys.stderr.flush()
            line = sys.stdin.readline()
            if not line:
                raise ChecklistError("the checklist was not finished")
            text = line.strip().lower()
            if text in ("y", "yes", "n", "no"):
                answers[question.id] = text.startswith("y")
                break
            print("    answer y or n", file=sys.stderr)
    return Checklist(answers, args.person or "operator", "terminal")


def save_plan(path: Path, plan: Plan, library: Library, request: dict) -> None:
    """A plan as a file that `injector run --plan` runs as it is."""
    document = {"format": PLAN_FORMAT, "format_version": PLAN_FORMAT_VERSION,
                "library": library.stamp(), "request": request, "summary": plan.summary()}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    temporary.replace(path)


def load_plan(path: Path, library: Library) -> dict:
    """A saved plan's request, refused when it was made with another library."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8")[:1_000_000])
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SavedPlanError(f"plan {path}: cannot be read as JSON ({exc})") from None
    if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
        raise SavedPlanError(f"plan {path}: not a plan saved by injector plan --save")
    if document.get("library") != library.stamp():
        made = document.get("library") or {}
        raise SavedPlanError(f"plan it again: the saved plan was made with library "
                             f"{made.get('version')} ({made.get('hash')}), this is "
                             f"{library.version} ({library.hash})")
    return document["request"]


def plan_path(raw: str) -> Path:
    from injector.plots import check_output_path
    return check_output_path(inputs.FILE_PATH.check(raw), (".json",), "plan")


def refuse_mismatch(option: str, given, saved) -> None:
    if given is not None and given != saved:
        raise OptionRefused(ValueRefused(option, given, f"the saved plan is for {saved}; plan "
                                         "it again", str(saved)))
