"""The drug in the syringe, shot by shot: one rule for the plan and for the session.

Every figure here is in delivered nanolitres, the unit of the gun's own drug account
(docs/protocol.md, "The drug account"): what the stored calibration says a plunger stroke
takes from the syringe. The gun refuses a shot the account cannot give; the host plans and
sizes its runs so that it never asks for one, and keeps a reserve so that the real syringe,
which the account only estimates, never runs dry mid-shot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RESERVE_FRACTION = 0.01
"""Drug held back in every syringe, as a fraction of its capacity. The account is the
calibration's estimate; a calibration that passes verification is within 2% on each shot,
and its mean error over a syringe is far smaller (its residual, well under 1%). 1% of the
syringe covers that, so the last planned shot of a fill still finds drug in the barrel."""


def reserve_nl(capacity_nl: int) -> int:
    return math.ceil(capacity_nl * RESERVE_FRACTION)


@dataclass(frozen=True)
class DrugAccount:
    """How one session's shots come out of its syringes."""

    capacity_nl: int
    dead_volume_nl: int
    draw_nl: int
    """What one whole shot takes, by the gun's account (its calibrated delivered volume)."""
    prime_draw_nl: int
    """What priming a syringe's line takes."""

    @property
    def reserve_nl(self) -> int:
        return reserve_nl(self.capacity_nl)

    def shots_from(self, remaining_nl: int) -> int:
        """Whole shots a syringe holding `remaining_nl` (dead volume included, already
        primed) can give before the reserve."""
        spare = remaining_nl - self.dead_volume_nl - self.reserve_nl
        return max(0, spare // self.draw_nl)

    @property
    def shots_per_fill(self) -> int:
        """A fresh syringe, primed."""
        return self.shots_from(self.capacity_nl - self.prime_draw_nl)

    def refills(self, shots: int, first_fill_shots: int) -> int:
        """Syringe changes a run of `shots` needs when the syringe it starts with gives
        `first_fill_shots`."""
        if shots <= first_fill_shots:
            return 0
        return math.ceil((shots - first_fill_shots) / self.shots_per_fill)

    def fill_of(self, shot: int, first_fill_shots: int) -> int:
        """Which syringe (0 the first) gives shot number `shot` (counted from 1)."""
        if shot <= first_fill_shots:
            return 0
        return 1 + (shot - first_fill_shots - 1) // self.shots_per_fill
