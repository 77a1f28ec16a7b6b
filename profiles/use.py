"""Whether a preset is for the zone and the needle a clinician chose, said first and plainly.

A preset lists the zones and needles it was written for, and it fits every pair it lists
(the loader checks that). So a zone or needle outside those lists is the real reason a plan
fails, whatever its depth or dose would say next: "nappage-middle is not for eyelids" helps a
clinician, "nappage-middle.toml: depth_mm = 2.0: deeper than zone eyelids's maximum" does not.
The planner calls this before it looks at any number.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from profiles.errors import PresetUseError
from profiles.lookup import close_names, did_you_mean
from profiles.model import Needle, Preset, Zone

ALTERNATIVES_MAX = 3


def _alternatives(preset: Preset, zone: Zone, presets: Iterable[Preset]) -> str:
    """The presets that are for `zone`, the most like `preset` first (same technique)."""
    names = [p.name for p in presets if zone.name in p.zones and p.name != preset.name]
    if not names:
        return f"; no preset is for {zone.name}"
    names.sort(key=lambda n: (-difflib.SequenceMatcher(None, preset.name, n).ratio(), n))
    return f"; for {zone.name}: {', '.join(names[:ALTERNATIVES_MAX])}"


def check_preset_use(preset: Preset, zone: Zone, needle: Needle, *,
                     presets: Iterable[Preset] | None = None) -> None:
    """Refuse a preset on a zone, then on a needle, it is not for, naming those it is for.

    Give `presets` (the catalog's) to also name the presets that are for the zone.
    Raises PresetUseError (an EnvelopeError) with field "zone" or "needle", the chosen name as
    value and the preset's own list as limit.
    """
    if zone.name not in preset.zones:
        others = "" if presets is None else _alternatives(preset, zone, presets)
        raise PresetUseError(
            f"preset {preset.name} is not for zone {zone.name}; it is for "
            f"{', '.join(preset.zones)}{others}",
            field="zone", value=zone.name, limit=list(preset.zones))
    if needle.name not in preset.needles:
        near = close_names(needle.name, preset.needles, most=1)
        raise PresetUseError(
            f"preset {preset.name} is not for needle {needle.name}; it is for "
            f"{', '.join(preset.needles)}" + (f"; {did_you_mean(near)}" if near else ""),
            field="needle", value=needle.name, limit=list(preset.needles))
