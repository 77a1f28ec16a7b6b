"""Loading and validating the catalog from TOML files a technician can read and diff.

Every file is checked field by field; the first problem is reported with the file, the field,
the value and the limit. Nothing is clamped or defaulted silently. Files are read through
profiles.files (regular files only, bounded), names checked by profiles.names.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from profiles.envelope import ENVELOPE, SafetyEnvelope
from profiles.errors import PresetFileError, UnknownNameError
from profiles.files import FILE_LIMITS, FileLimits, preset_files, read_toml
from profiles.lookup import close_names, did_you_mean, resolve_name
from profiles.model import Delivery, Needle, Preset, Source, Syringe, Zone
from profiles.names import check_name, lookalike_key, text_problem

BUILT_IN = Path(__file__).parent
"""The built-in catalog: the package's own directory (installed as files, never zipped)."""
NUMBER_MAX = 1e6
"""No number in a catalog file needs more (the largest is a rate of a few hundred): a bigger
one is a typo, and an integer of hundreds of digits does not even fit a float."""
SUMMARY_MAX_CHARS = 120
_SEED = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")
"""A seed is a plain file name in the seeds folder: no directory, no `..`."""


@dataclass(frozen=True)
class _Number:
    """A float field: TOML ints are accepted (4 means 4.0), bools and NaN are not."""

    unit: str
    low: float
    high: float = NUMBER_MAX
    low_inclusive: bool = False

    def parse(self, value: Any, field: str, source: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise PresetFileError(f"must be a number ({self.unit})", source=source,
                                  field=field, value=value, limit="a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise PresetFileError(f"must be finite ({self.unit})", source=source, field=field,
                                  value=value, limit="finite")
        # Compared before float(): an int of 400 digits compares fine but overflows a float.
        too_low = value < self.low if self.low_inclusive else value <= self.low
        if too_low or value > self.high:
            low = "[" if self.low_inclusive else "("
            raise PresetFileError(f"outside {low}{self.low:g}, {self.high:g}] {self.unit}",
                                  source=source, field=field, value=value,
                                  limit=self.low if too_low else self.high)
        return float(value)


_PRESET_NUMBERS: Mapping[str, _Number] = {
    # Sanity ranges of the file format; the safety envelope (depth, dose) is checked after.
    "depth_mm": _Number("mm", 0.0),
    "spacing_mm": _Number("mm", 0.0),
    "dose_ul": _Number("ul", 0.0),
    "angle_deg": _Number("degrees", 0.0, 90.0),
    "insert_speed_mm_s": _Number("mm/s", 0.0),
    "dispense_rate_ul_s": _Number("ul/s", 0.0),
    "dwell_s": _Number("s", 0.0, 60.0, low_inclusive=True),
    "shot_rate_hz": _Number("Hz", 0.0),
    "drug_loss_fraction": _Number("fraction", 0.0, 0.95, low_inclusive=True),
}
_PRESET_TEXT = ("name", "technique", "summary", "delivery")
_PRESET_NAMES = {"name": "preset", "technique": "technique"}
_PRESET_LISTS = ("zones", "needles")
_PRESET_OPTIONAL = {"notes": ""}
_PRESET_FIELDS = set(_PRESET_NUMBERS) | set(_PRESET_TEXT) | set(_PRESET_LISTS) | {"source", "notes"}


def _text(data: Mapping[str, Any], field: str, source: str, *, lines: bool = False,
          max_chars: int | None = None) -> str:
    """A text shown to people: no control, bidi or zero-width character; newlines only in
    texts of several lines (`lines`)."""
    value = data[field]
    if not isinstance(value, str) or not value.strip():
        raise PresetFileError("must be a non-empty string", source=source, field=field,
                              value=value, limit="a string")
    problem = text_problem(value, lines=lines)
    if problem:
        raise PresetFileError(f"{problem}, not allowed in a text", source=source, field=field,
                              value=value, limit="printable text")
    if max_chars is not None and len(value) > max_chars:
        raise PresetFileError(f"is {len(value)} characters long, over {max_chars}",
                              source=source, field=field, value=value, limit=max_chars)
    return value


def _names(data: Mapping[str, Any], field: str, source: str) -> tuple[str, ...]:
    """A list of zone or needle names, as written; resolve_references checks them."""
    value = data[field]
    if (not isinstance(value, list) or not value
            or not all(isinstance(item, str) for item in value)):
        raise PresetFileError("must be a non-empty list of names", source=source, field=field,
                              value=value, limit="a list of strings")
    return tuple(value)


def _sources(value: Any, source: str) -> tuple[Source, ...]:
    if not isinstance(value, list) or not value:
        raise PresetFileError("must be one or more [[source]] tables with seed and quote",
                              source=source, field="source", value=value, limit="[[source]]")
    parsed = []
    for index, item in enumerate(value):
        field = f"source[{index}]"
        if not isinstance(item, dict) or set(item) != {"seed", "quote"}:
            raise PresetFileError("must have exactly the keys seed and quote", source=source,
                                  field=field, value=item, limit="{seed, quote}")
        seed = _text(item, "seed", source)
        if not _SEED.fullmatch(seed) or ".." in seed:
            raise PresetFileError("must be the file name of a seed, without a folder",
                                  source=source, field=f"{field}.seed", value=seed,
                                  limit=_SEED.pattern)
        parsed.append(Source(seed=seed, quote=_text(item, "quote", source, lines=True)))
    return tuple(parsed)


def parse_preset(data: Mapping[str, Any], source: str) -> Preset:
    """Check one preset's schema (not yet its zones and needles); `source` names the file."""
    unknown = sorted(set(data) - _PRESET_FIELDS)
    if unknown:
        near = close_names(unknown[0], _PRESET_FIELDS, most=1)
        hint = did_you_mean(near) if near else "docs/presets.md lists the fields"
        raise PresetFileError(f"unknown field; {hint}", source=source, field=unknown[0],
                              value=data[unknown[0]], limit=sorted(_PRESET_FIELDS))
    missing = sorted(_PRESET_FIELDS - set(_PRESET_OPTIONAL) - set(data))
    if missing:
        raise PresetFileError("missing required field", source=source, field=missing[0],
                              value=None, limit="required")
    for field, kind in _PRESET_NAMES.items():
        check_name(data[field], kind, source=source, field=field)
    numbers = {field: spec.parse(data[field], field, source)
               for field, spec in _PRESET_NUMBERS.items()}
    texts = {field: _text(data, field, source, max_chars=SUMMARY_MAX_CHARS)
             for field in _PRESET_TEXT}
    try:
        delivery = Delivery(texts.pop("delivery"))
    except ValueError:
        raise PresetFileError("unknown delivery", source=source, field="delivery",
                              value=data["delivery"],
                              limit=", ".join(d.value for d in Delivery)) from None
    notes = _text(data, "notes", source, lines=True) if "notes" in data else ""
    return Preset(delivery=delivery, zones=_names(data, "zones", source),
                  needles=_names(data, "needles", source),
                  sources=_sources(data["source"], source), notes=notes, path=source,
                  **texts, **numbers)


def _parse_table(data: Mapping[str, Any], key: str, source: str,
                 fields: Mapping[str, _Number],
                 texts: Mapping[str, bool] = MappingProxyType({})) -> dict[str, dict]:
    """[key.NAME] tables of exactly `fields` (numbers) and `texts` (name -> may have lines)."""
    table = data.get(key)
    if not isinstance(table, dict) or not table or set(data) != {key}:
        raise PresetFileError(f"must hold only [{key}.NAME] tables", source=source,
                              field=key, value=sorted(data), limit=f"[{key}.NAME]")
    parsed = {}
    lookalikes: dict[str, str] = {}
    for name, entry in table.items():
        check_name(name, key, source=source)
        _refuse_lookalike(name, lookalikes, kind=key, source=source, field=key)
        expected = set(fields) | set(texts)
        if not isinstance(entry, dict) or set(entry) != expected:
            raise PresetFileError(f"must have exactly the fields {', '.join(sorted(expected))}",
                                  source=source, field=f"{key}.{name}", value=entry,
                                  limit=sorted(expected))
        values: dict[str, Any] = {f: spec.parse(entry[f], f"{key}.{name}.{f}", source)
                                  for f, spec in fields.items()}
        values.update({f: _text(entry, f, source, lines=lines) for f, lines in texts.items()})
        parsed[name] = values
    return parsed


def _refuse_lookalike(name: str, seen: dict[str, str], *, kind: str, source: str,
                      field: str) -> None:
    """Refuse a name that reads like one already taken (`pinp0int` beside `pinpoint`)."""
    other = seen.setdefault(lookalike_key(name), name)
    if other != name:
        raise PresetFileError(f"reads like the {kind} {other}; choose a name that does not",
                              source=source, field=field, value=name, limit=other)


def _load_needles(path: Path, source: str, limits: FileLimits) -> dict[str, Needle]:
    tables = _parse_table(read_toml(path, source, limits), "needle", source, {
        "gauge": _Number("G", 0.0, 40.0), "length_mm": _Number("mm", 0.0, 50.0),
        "inner_diameter_mm": _Number("mm", 0.0, 2.0)})
    needles = {}
    for name, v in tables.items():
        if not v["gauge"].is_integer():
            raise PresetFileError("gauge must be a whole number", source=source,
                                  field=f"needle.{name}.gauge", value=v["gauge"], limit="integer")
        needles[name] = Needle(name=name, gauge=int(v["gauge"]), length_mm=v["length_mm"],
                               inner_diameter_mm=v["inner_diameter_mm"])
    return needles


def _load_zones(path: Path, source: str, envelope: SafetyEnvelope,
                limits: FileLimits) -> dict[str, Zone]:
    tables = _parse_table(read_toml(path, source, limits), "zone", source, {
        "depth_min_mm": _Number("mm", envelope.depth_min_mm, envelope.depth_max_mm, True),
        "depth_max_mm": _Number("mm", envelope.depth_min_mm, envelope.depth_max_mm, True)},
        texts={"why": True})
    zones = {}
    for name, v in tables.items():
        if v["depth_min_mm"] > v["depth_max_mm"]:
            raise PresetFileError("zone minimum depth above its maximum", source=source,
                                  field=f"zone.{name}.depth_min_mm", value=v["depth_min_mm"],
                                  limit=v["depth_max_mm"])
        zones[name] = Zone(name=name, **v)
    return zones


def _load_syringes(path: Path, source: str, limits: FileLimits) -> dict[str, Syringe]:
    tables = _parse_table(read_toml(path, source, limits), "syringe", source, {
        "capacity_ml": _Number("ml", 0.0, 10.0), "bore_mm": _Number("mm", 0.0, 40.0),
        "dead_volume_ul": _Number("ul", 0.0, 1000.0, low_inclusive=True)})
    syringes = {}
    for name, v in tables.items():
        if v["dead_volume_ul"] >= v["capacity_ml"] * 1000.0:
            raise PresetFileError("dead volume must be less than the capacity", source=source,
                                  field=f"syringe.{name}.dead_volume_ul",
                                  value=v["dead_volume_ul"], limit=v["capacity_ml"] * 1000.0)
        syringes[name] = Syringe(name=name, **v)
    return syringes


@dataclass(frozen=True)
class Catalog:
    """The presets, zones and needles the gun knows, all validated together.

    The lookups take a name as a user typed it: ASCII case is forgiven, a name outside the
    alphabet is refused before any lookup, and a miss suggests the closest names.
    """

    presets: Mapping[str, Preset]
    zones: Mapping[str, Zone]
    needles: Mapping[str, Needle]
    syringes: Mapping[str, Syringe]
    envelope: SafetyEnvelope = ENVELOPE

    def preset(self, name: str) -> Preset:
        return self.presets[resolve_name(self.presets, name, "preset")]

    def zone(self, name: str) -> Zone:
        return self.zones[resolve_name(self.zones, name, "zone")]

    def needle(self, name: str) -> Needle:
        return self.needles[resolve_name(self.needles, name, "needle")]

    def syringe(self, capacity_ml: float, dead_volume_ul: float | None = None) -> Syringe:
        """The syringe of that size, with a technician's measured dead volume if given."""
        for syringe in self.syringes.values():
            if syringe.capacity_ml == capacity_ml:
                break
        else:
            sizes = sorted(s.capacity_ml for s in self.syringes.values())
            raise UnknownNameError(
                f"no syringe of that size (known: {', '.join(f'{v:g}' for v in sizes)} ml)",
                source="request", field="syringe_ml", value=capacity_ml, limit=sizes)
        if dead_volume_ul is None:
            return syringe
        limit = syringe.capacity_ml * 1000.0
        spec = _Number("ul", 0.0, limit, low_inclusive=True)
        value = spec.parse(dead_volume_ul, "dead_volume_ul", "request")
        if value >= limit:
            raise PresetFileError("must be less than the syringe's capacity", source="request",
                                  field="dead_volume_ul", value=value, limit=limit)
        return replace(syringe, dead_volume_ul=value)


def resolve_references(preset: Preset, zones: Mapping[str, Zone],
                       needles: Mapping[str, Needle]) -> Preset:
    """The preset with its zones and needles in the catalog's spelling (`30G-4mm` in an
    older file is the needle `30g-4mm`); an unknown or doubled name is refused."""
    resolved = {}
    for field, kind, table in (("zones", "zone", zones), ("needles", "needle", needles)):
        names: list[str] = []
        for written in getattr(preset, field):
            name = resolve_name(table, written, kind, source=preset.path, field=field)
            if name in names:
                raise PresetFileError(f"lists the {kind} {name} twice", source=preset.path,
                                      field=field, value=written, limit="unique names")
            names.append(name)
        resolved[field] = tuple(names)
    return replace(preset, **resolved)


def check_preset_against_catalog(preset: Preset, zones: Mapping[str, Zone],
                                 needles: Mapping[str, Needle],
                                 envelope: SafetyEnvelope) -> None:
    """A preset must be usable as written on every zone and needle it lists."""
    envelope.check_dose(preset.dose_ul, source=preset.path)
    for zone_name in preset.zones:
        for needle_name in preset.needles:
            envelope.check_depth(preset.depth_mm, zones[zone_name], needles[needle_name],
                                 source=preset.path)


def _load_preset(path: Path, source: str, *, builtin: bool, limits: FileLimits) -> Preset:
    stem = path.name.removesuffix(".toml")
    check_name(stem, "preset file", source=source)      # before the file is even opened
    preset = parse_preset(read_toml(path, source, limits), source)
    if preset.name != stem:
        raise PresetFileError(f"must match the file name '{stem}'", source=source,
                              field="name", value=preset.name, limit=stem)
    return replace(preset, builtin=builtin)


def load_catalog(preset_dirs: Iterable[Path] = (), *, envelope: SafetyEnvelope = ENVELOPE,
                 limits: FileLimits = FILE_LIMITS) -> Catalog:
    """The built-in catalog plus a technician's own preset directories.

    A custom preset is held to the same envelope, the same name rule and file limits, and may
    not reuse a built-in name or one that reads like it.
    """
    needles = _load_needles(BUILT_IN / "needles.toml", "profiles/needles.toml", limits)
    zones = _load_zones(BUILT_IN / "zones.toml", "profiles/zones.toml", envelope, limits)
    syringes = _load_syringes(BUILT_IN / "syringes.toml", "profiles/syringes.toml", limits)
    files = [(p, f"profiles/presets/{p.name}", True)
             for p in preset_files(BUILT_IN / "presets", limits)]
    for directory in preset_dirs:
        if not isinstance(directory, (str, os.PathLike)):   # argparse: `--presets-dir=--`
            raise PresetFileError("is not a directory path", source="request",
                                  field="presets_dir", value=directory, limit="a path")
        files += [(p, str(p), False) for p in preset_files(Path(directory), limits)]
    presets: dict[str, Preset] = {}
    lookalikes: dict[str, str] = {}
    for path, source, builtin in files:
        preset = _load_preset(path, source, builtin=builtin, limits=limits)
        if preset.name in presets:
            raise PresetFileError(f"already defined in {presets[preset.name].path}",
                                  source=source, field="name", value=preset.name,
                                  limit="a unique name")
        _refuse_lookalike(preset.name, lookalikes, kind="preset", source=source, field="name")
        preset = resolve_references(preset, zones, needles)
        check_preset_against_catalog(preset, zones, needles, envelope)
        presets[preset.name] = preset
    return Catalog(presets=MappingProxyType(presets), zones=MappingProxyType(zones),
                   needles=MappingProxyType(needles), syringes=MappingProxyType(syringes),
                   envelope=envelope)
