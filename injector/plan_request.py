"""A plan request, as the command line (`injector plan`) and the service (`POST
/api/v1/plans`) both take it: every value checked through its definition in
injector/inputs.py, then planned by injector/planner.py. One rule, two interfaces.

`checked_overrides` is the clinician's change to a preset, checked the same way wherever it
comes from (a plan, or a session started through the service).
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.values import ValueRefused, checked_as
from injector import inputs
from injector.planner import Overrides, Plan, plan
from profiles import Catalog

OVERRIDE_KINDS = {"depth_mm": inputs.DEPTH_MM, "dose_ul": inputs.DOSE_UL,
                  "spacing_mm": inputs.SPACING_MM, "shot_rate_hz": inputs.RATE_HZ}


def checked_overrides(**given) -> Overrides:
    """Overrides from field values (None: the preset's own), each checked."""
    unknown = set(given) - set(OVERRIDE_KINDS)
    if unknown:
        name = sorted(unknown)[0]
        raise ValueRefused(name, given[name], f"is not an override; give one of "
                           f"{', '.join(OVERRIDE_KINDS)}", ", ".join(OVERRIDE_KINDS))
    return Overrides(**{name: checked_as(name, OVERRIDE_KINDS[name], value)
                        for name, value in given.items()})


@dataclass(frozen=True)
class PlanRequest:
    preset: str
    zone: str
    needle: str
    shots: int | None = None
    area_cm2: float | None = None
    syringe_ml: float = 10.0
    dead_volume_ul: float | None = None
    """None: the syringe's own."""
    overrides: Overrides = Overrides()

    def __post_init__(self) -> None:
        if (self.shots is None) == (self.area_cm2 is None):
            raise ValueRefused("shots", self.shots, "give exactly one of shots or area_cm2",
                               "one of shots or area_cm2")
        for name, kind in (("shots", inputs.SHOTS), ("area_cm2", inputs.AREA_CM2),
                           ("syringe_ml", inputs.SYRINGE_ML),
                           ("dead_volume_ul", inputs.DEAD_VOLUME_UL)):
            object.__setattr__(self, name, checked_as(name, kind, getattr(self, name)))
        for name, kind in OVERRIDE_KINDS.items():
            checked_as(name, kind, getattr(self.overrides, name))

    def build(self, catalog: Catalog) -> Plan:
        """The plan, or the catalog's or the planner's refusal (a name, the envelope)."""
        syringe = catalog.syringe(self.syringe_ml, self.dead_volume_ul)
        return plan(catalog.preset(self.preset), catalog.zone(self.zone),
                    catalog.needle(self.needle), syringe, shots=self.shots,
                    area_cm2=self.area_cm2, overrides=self.overrides)
