"""The technique library as versioned data: hard and soft limits per technique and zone, its
version, and a hash of everything a plan depends on (limits, zones, needles, syringes,
presets), stamped on every plan and session so what ran can be traced to what was allowed.

A hard limit is never passed and is never wider than the safety envelope; a soft limit sits
inside it and is passed only with a recorded reason and a person (injector/limits.py).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from profiles.envelope import ENVELOPE, SafetyEnvelope
from profiles.errors import PresetFileError
from profiles.files import FILE_LIMITS, preset_files, read_toml

BUILT_IN = Path(__file__).parent
LIMIT_NAMES = {
    # name: (unit, what it limits)
    "depth_mm": ("mm", "depth"),
    "dose_ul": ("ul", "dose per shot"),
    "shot_rate_hz": ("Hz", "shot rate"),
    "spacing_mm": ("mm", "spacing"),
    "session_volume_ml": ("ml", "volume per session (requested)"),
    "session_shots": ("shots", "shots per session"),
}


@dataclass(frozen=True)
class Limit:
    name: str
    soft: tuple[float, float]
    hard: tuple[float, float]
    step: float
    source: str
    scope: str
    """"technique nappage" or "zone face": where it is written."""

    @property
    def unit(self) -> str:
        return LIMIT_NAMES[self.name][0]

    def narrowed(self, other: Limit) -> Limit:
        """The tighter of two limits on the same quantity (a technique's and a zone's)."""
        soft = (max(self.soft[0], other.soft[0]), min(self.soft[1], other.soft[1]))
        hard = (max(self.hard[0], other.hard[0]), min(self.hard[1], other.hard[1]))
        tighter = other if (other.soft[1] - other.soft[0]) < (self.soft[1] - self.soft[0]) \
            else self
        return Limit(self.name, soft, hard, max(self.step, other.step),
                     f"{self.source}; {other.source}" if tighter is other else self.source,
                     f"{self.scope} and {other.scope}")


@dataclass(frozen=True)
class Library:
    version: str
    hash: str
    """sha256 of the limits and the catalog files, first 16 hex digits."""
    techniques: Mapping[str, Mapping[str, Limit]]
    zones: Mapping[str, Mapping[str, Limit]]
    clinic_text: str | None = None
    """The clinic's own narrowing file, when one is in force: it runs only once signed."""

    def limits_for(self, technique: str, zone: str) -> dict[str, Limit]:
        """Every limit that holds for a technique on a zone."""
        limits = dict(self.techniques.get(technique, {}))
        for name, limit in self.zones.get(zone, {}).items():
            limits[name] = limits[name].narrowed(limit) if name in limits else limit
        return limits

    def stamp(self) -> dict:
        return {"version": self.version, "hash": self.hash}


def limit_rows(library: Library) -> list[dict]:
    """Every limit in force, one row each: `injector library --json` and the touchscreen's
    library page say the same."""
    rows = []
    for kind, table in (("technique", library.techniques), ("zone", library.zones)):
        for scope, limits in table.items():
            for limit in limits.values():
                rows.append({"scope": f"{kind} {scope}", "limit": limit.name,
                             "unit": limit.unit, "what": LIMIT_NAMES[limit.name][1],
                             "soft": list(limit.soft), "hard": list(limit.hard),
                             "step": limit.step, "source": limit.source})
    return rows


def _range(value: Any, what: str, source: str) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not value[0] <= value[1]):
        raise PresetFileError("must be [low, high], low <= high", source=source, field=what,
                              value=value, limit="[low, high]")
    return float(value[0]), float(value[1])


_ENVELOPE_FIELDS = {"depth_mm": ("depth_min_mm", "depth_max_mm"),
                    "dose_ul": ("dose_min_ul", "dose_max_ul"),
                    "spacing_mm": ("spacing_min_mm", "spacing_max_mm"),
                    "shot_rate_hz": (None, "shot_rate_max_hz")}


def _limit(name: str, raw: Any, scope: str, source: str, envelope: SafetyEnvelope) -> Limit:
    where = f"{source} [{scope}] {name}"
    if name not in LIMIT_NAMES:
        raise PresetFileError(f"unknown limit (known: {', '.join(LIMIT_NAMES)})", source=source,
                              field=f"{scope}.{name}", value=name, limit="a known limit")
    if not isinstance(raw, dict) or set(raw) != {"soft", "hard", "step", "source"}:
        raise PresetFileError("needs soft, hard, step and source", source=where, field=name,
                              value=sorted(raw) if isinstance(raw, dict) else raw,
                              limit="soft, hard, step, source")
    soft, hard = _range(raw["soft"], "soft", where), _range(raw["hard"], "hard", where)
    if not (hard[0] <= soft[0] and soft[1] <= hard[1]):
        raise PresetFileError("the soft range must lie inside the hard one", source=where,
                              field="soft", value=list(soft), limit=list(hard))
    low_field, high_field = _ENVELOPE_FIELDS.get(name, (None, None))
    if high_field and hard[1] > getattr(envelope, high_field) + 1e-9:
        raise PresetFileError("a hard limit may not be wider than the safety envelope",
                              source=where, field="hard", value=hard[1],
                              limit=getattr(envelope, high_field))
    if low_field and hard[0] < getattr(envelope, low_field) - 1e-9:
        raise PresetFileError("a hard limit may not be wider than the safety envelope",
                              source=where, field="hard", value=hard[0],
                              limit=getattr(envelope, low_field))
    step = raw["step"]
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step <= hard[1]:
        raise PresetFileError("must be a positive number", source=where, field="step",
                              value=step, limit="> 0")
    text = raw["source"]
    if not isinstance(text, str) or not 0 < len(text) <= 300 or not text.isprintable():
        raise PresetFileError("must say where the figure comes from", source=where,
                              field="source", value=text, limit="1 to 300 characters")
    return Limit(name, soft, hard, float(step), text, scope)


def _hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


CLINIC_ENV = "INJECTOR_CLINIC_LIMITS"
"""A clinic's own limits file, narrowing the built-in library (docs/presets.md)."""


def _narrow(built_in: Limit, clinic: Limit, where: str) -> Limit:
    """A clinic's limit, refused if it widens the built-in hard range."""
    if clinic.hard[0] < built_in.hard[0] - 1e-9 or clinic.hard[1] > built_in.hard[1] + 1e-9:
        raise PresetFileError("a clinic may narrow a hard limit, never widen it", source=where,
                              field=f"{clinic.name}.hard", value=list(clinic.hard),
                              limit=list(built_in.hard))
    return Limit(clinic.name, clinic.soft, clinic.hard, clinic.step,
                 f"clinic: {clinic.source}", built_in.scope)


def load_library(envelope: SafetyEnvelope = ENVELOPE, clinic: Path | None = None) -> Library:
    """The built-in library: its limits checked against the envelope, its hash over every
    file a plan depends on; narrowed by the clinic's file (`clinic`, else $INJECTOR_CLINIC_
    LIMITS) when there is one."""
    library = _load_built_in(envelope)
    if clinic is None and os.environ.get(CLINIC_ENV):
        clinic = Path(os.environ[CLINIC_ENV])
    if clinic is None:
        return library
    source = str(clinic)
    data = read_toml(clinic, source, FILE_LIMITS)
    version = data.get("version")
    if not isinstance(version, str) or not version or not version.isprintable():
        raise PresetFileError("needs a version", source=source, field="version", value=version,
                              limit="text")
    tables = {"technique": {k: dict(v) for k, v in library.techniques.items()},
              "zone": {k: dict(v) for k, v in library.zones.items()}}
    for kind in ("technique", "zone"):
        for scope_name, limits in data.get(kind, {}).items():
            scope = f"{kind} {scope_name}"
            known = tables[kind].setdefault(scope_name, {})
            for name, raw in limits.items():
                limit = _limit(name, raw, scope, source, envelope)
                base = known.get(name)
                if base is None:
                    raise PresetFileError("a clinic narrows the library's limits; this one is "
                                          "not in it", source=source, field=f"{scope}.{name}",
                                          value=name, limit="a limit of profiles/limits.toml")
                known[name] = _narrow(base, limit, source)
    text = Path(clinic).read_text(encoding="utf-8")
    digest = hashlib.sha256((library.hash + "\0").encode() + text.encode()).hexdigest()[:16]
    return Library(f"{library.version}+clinic.{version}", digest,
                   MappingProxyType({k: MappingProxyType(v) for k, v in tables["technique"].items()}),
                   MappingProxyType({k: MappingProxyType(v) for k, v in tables["zone"].items()}),
                   text)


def _load_built_in(envelope: SafetyEnvelope) -> Library:
    path = BUILT_IN / "limits.toml"
    source = "profiles/limits.toml"
    data = read_toml(path, source, FILE_LIMITS)
    version = data.get("version")
    if not isinstance(version, str) or not version or not version.isprintable():
        raise PresetFileError("needs a version", source=source, field="version", value=version,
                              limit="text")
    tables = {}
    for kind in ("technique", "zone"):
        entries = {}
        for scope_name, limits in data.get(kind, {}).items():
            scope = f"{kind} {scope_name}"
            entries[scope_name] = MappingProxyType(
                {name: _limit(name, raw, scope, source, envelope) for name, raw in limits.items()})
        tables[kind] = MappingProxyType(entries)
    files = [path, BUILT_IN / "zones.toml", BUILT_IN / "needles.toml",
             BUILT_IN / "syringes.toml", *preset_files(BUILT_IN / "presets", FILE_LIMITS)]
    return Library(version, _hash(files), tables["technique"], tables["zone"])


def render_markdown(library: Library) -> str:
    """The library's limits as the table docs/presets.md shows (kept current by a test)."""
    lines = [f"Library {library.version}, hash {library.hash}.", "",
             "| scope | limit | soft | hard | step | source |", "|---|---|---|---|---|---|"]
    for kind, table in (("technique", library.techniques), ("zone", library.zones)):
        for scope, limits in table.items():
            for limit in limits.values():
                unit = f" {limit.unit}"
                lines.append(f"| {kind} {scope} | {LIMIT_NAMES[limit.name][1]} | "
                             f"{limit.soft[0]:g} to {limit.soft[1]:g}{unit} | "
                             f"{limit.hard[0]:g} to {limit.hard[1]:g}{unit} | {limit.step:g} | "
                             f"{limit.source} |")
    return "\n".join(lines) + "\n"
