"""The product's safety envelope: the one place its limits live.

Preset files carry values, never limits, so no file can widen these. The controller checks
every plan against them before anything is sent; the firmware checks its own range again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from profiles.errors import EnvelopeError
from profiles.model import Needle, Zone


@dataclass(frozen=True)
class SafetyEnvelope:
    depth_min_mm: float = 0.5
    """Below 0.5 mm a bevel (about 0.5 mm long on 30G/32G) is not fully under the skin and
    the drug runs onto the surface."""
    depth_max_mm: float = 13.0
    """The deepest technique (infiltration) and the longest needle: 13 mm."""
    needle_margin_mm: float = 0.5
    """Depth stays 0.5 mm short of the mounted needle's length: the needle's length tolerance
    and its seat in the nose leave the true exposed length a few tenths of a millimetre
    uncertain, and driving the full length would press the hub and the nose cone into the
    skin. 0.5 mm still lets a 4 mm needle reach the deep dermis (3.5 mm)."""
    dose_min_ul: float = 10.0
    dose_max_ul: float = 100.0
    """Dose per shot 0.01 to 0.1 ml (seeds: classical 0.01-0.03 ml, infiltration 0.1 ml)."""
    spacing_min_mm: float = 1.0
    """Closer than 1 mm, punctures overlap (a 30G needle is 0.3 mm wide and lands within
    about 0.3 mm of its aim by hand or by gun): the skin takes one wound, not a grid."""
    spacing_max_mm: float = 50.0
    """Wider than any technique's spacing (infiltration and infusion: 20 mm)."""
    shot_rate_max_hz: float = 20.0
    """Above the 9 shots a second of the field's automated guns and the 15 a superficial
    nappage run is held to; the gun stores it as its shortest period, 50 ms."""

    def within_gun(self, *, min_depth_mm: float, max_depth_mm: float, min_dose_ul: float,
                   max_dose_ul: float, shot_rate_max_hz: float) -> SafetyEnvelope:
        """This envelope narrowed to the one a gun stores. A gun whose envelope is wider
        than the product's is refused (the field, its value, the product's limit): a
        technician must narrow it; the host never plans past either."""
        for field, value, limit, wider in (
                ("min_depth_mm", min_depth_mm, self.depth_min_mm, min_depth_mm < self.depth_min_mm),
                ("max_depth_mm", max_depth_mm, self.depth_max_mm, max_depth_mm > self.depth_max_mm),
                ("min_dose_ul", min_dose_ul, self.dose_min_ul, min_dose_ul < self.dose_min_ul),
                ("max_dose_ul", max_dose_ul, self.dose_max_ul, max_dose_ul > self.dose_max_ul),
                ("shot_rate_max_hz", shot_rate_max_hz, self.shot_rate_max_hz,
                 shot_rate_max_hz > self.shot_rate_max_hz + 1e-9)):
            if wider:
                raise EnvelopeError("the gun's stored envelope is wider than the product's: "
                                    "a technician must narrow it", source="gun", field=field,
                                    value=value, limit=limit)
        return SafetyEnvelope(depth_min_mm=min_depth_mm, depth_max_mm=max_depth_mm,
                              needle_margin_mm=self.needle_margin_mm, dose_min_ul=min_dose_ul,
                              dose_max_ul=max_dose_ul, shot_rate_max_hz=shot_rate_max_hz,
                              spacing_min_mm=self.spacing_min_mm,
                              spacing_max_mm=self.spacing_max_mm)

    def max_depth_mm(self, zone: Zone, needle: Needle) -> float:
        return min(self.depth_max_mm, needle.length_mm - self.needle_margin_mm, zone.depth_max_mm)

    def min_depth_mm(self, zone: Zone) -> float:
        return max(self.depth_min_mm, zone.depth_min_mm)

    def check_depth(self, depth_mm: float, zone: Zone, needle: Needle, *, source: str) -> None:
        """Refuse a depth outside the envelope, the zone or the needle, naming the limit hit."""
        check_finite_positive(depth_mm, "depth_mm", "mm", source=source)
        limits = [
            (self.depth_max_mm, "the safety envelope's maximum"),
            (needle.length_mm - self.needle_margin_mm,
             f"needle {needle.name} ({needle.length_mm:g} mm) less the "
             f"{self.needle_margin_mm:g} mm margin"),
            (zone.depth_max_mm, f"zone {zone.name}'s maximum"),
        ]
        for limit, what in limits:
            if depth_mm > limit:
                raise EnvelopeError(f"deeper than {what}, {limit:g} mm", source=source,
                                    field="depth_mm", value=depth_mm, limit=limit)
        for limit, what in [(self.depth_min_mm, "the safety envelope's minimum"),
                            (zone.depth_min_mm, f"zone {zone.name}'s minimum")]:
            if depth_mm < limit:
                raise EnvelopeError(f"shallower than {what}, {limit:g} mm", source=source,
                                    field="depth_mm", value=depth_mm, limit=limit)

    def check_spacing(self, spacing_mm: float, *, source: str) -> None:
        check_finite_positive(spacing_mm, "spacing_mm", "mm", source=source)
        if not self.spacing_min_mm <= spacing_mm <= self.spacing_max_mm:
            limit = self.spacing_min_mm if spacing_mm < self.spacing_min_mm else self.spacing_max_mm
            raise EnvelopeError(
                f"outside the safety envelope's spacing, "
                f"{self.spacing_min_mm:g} to {self.spacing_max_mm:g} mm",
                source=source, field="spacing_mm", value=spacing_mm, limit=limit)

    def check_dose(self, dose_ul: float, *, source: str) -> None:
        check_finite_positive(dose_ul, "dose_ul", "ul", source=source)
        if not self.dose_min_ul <= dose_ul <= self.dose_max_ul:
            limit = self.dose_min_ul if dose_ul < self.dose_min_ul else self.dose_max_ul
            raise EnvelopeError(
                f"outside the safety envelope's dose per shot, "
                f"{self.dose_min_ul:g} to {self.dose_max_ul:g} ul",
                source=source, field="dose_ul", value=dose_ul, limit=limit)


def check_finite_positive(value: float, field: str, unit: str, *, source: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise EnvelopeError(f"must be a number of {unit}", source=source, field=field,
                            value=value, limit="a number")
    if not math.isfinite(value) or value <= 0:
        raise EnvelopeError(f"must be positive and finite ({unit})", source=source,
                            field=field, value=value, limit="> 0")


ENVELOPE = SafetyEnvelope()
