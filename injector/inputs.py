"""Every value a person gives the host, with its unit and limits: the one place they are
defined. The command line checks each option through these as it parses (before a port or
the record is opened), and the session and calibration check their requests through the
same, so any interface that builds a request gets the same refusal.

Clinical limits come from the safety envelope (profiles/envelope.py); the planner narrows
them further per zone and needle. Limits here that are not clinical are sanity bounds: each
says why it is where it is.
"""

from __future__ import annotations

import re
from datetime import date

from drivers.calibration_table import MAX_POINTS
from drivers.config import CONFIG_RANGES
from drivers.metrology import TEMPERATURE_RANGE_C
from drivers.values import NumberList, Quantity, Text, ValueRefused
from injector.planner import MAX_SHOTS
from profiles.envelope import ENVELOPE

SHOTS = Quantity("shots", "", 1, MAX_SHOTS, whole=True)
VOLUME_ML = Quantity("volume", "ml", 0, 1_000, above=True)
"""A session's volume: 1 litre is a hundred 10 ml syringes, far past any session."""
BUDGET_ML = Quantity("budget", "ml", 0, 1_000, above=True)
SYRINGE_ML = Quantity("syringe", "ml", 0, CONFIG_RANGES["syringe_capacity_nl"][1] / 1e6,
                      above=True)
PRIME_UL = Quantity("prime", "ul", 0, 1_000)
"""0 skips the prime (a syringe already primed); 1 ml is a tenth of the largest syringe."""
AREA_CM2 = Quantity("area", "cm2", 0.01, 20_000)
"""An adult's whole skin is about 18,000 cm2."""
DEAD_VOLUME_UL = Quantity("dead volume", "ul", 0, CONFIG_RANGES["dead_volume_nl"][1] / 1000)

DEPTH_MM = Quantity("depth", "mm", ENVELOPE.depth_min_mm, ENVELOPE.depth_max_mm)
DOSE_UL = Quantity("dose", "ul", ENVELOPE.dose_min_ul, ENVELOPE.dose_max_ul)
SPACING_MM = Quantity("spacing", "mm", ENVELOPE.spacing_min_mm, ENVELOPE.spacing_max_mm)
RATE_HZ = Quantity("rate", "Hz", 0.001, ENVELOPE.shot_rate_max_hz)
"""One shot in 1000 s at the slowest (continuous infusion runs at 0.0125 Hz)."""

SET_VOLUMES_UL = NumberList(DOSE_UL, 1, 10)
"""The set volumes of a verification; a calibration takes 3 to the gun's table size."""
SET_DEPTHS_MM = NumberList(DEPTH_MM, 1, 10)
CALIBRATION_POINTS = Quantity("set values", "", 3, MAX_POINTS, whole=True)
"""A fit needs three different set values to show it is a line; the gun stores six."""
DENSITY_G_ML = Quantity("density", "g/ml", 0.5, 2.5)
"""A liquid other than water (water's density comes from its temperature)."""
TEMPERATURE_C = Quantity("temperature", "C", *TEMPERATURE_RANGE_C)
"""ISO 8655-6 gravimetry: 15 to 30 C."""
INSTRUMENT_SERIAL = Text("serial number", 40)
SHOTS_EACH = Quantity("shots each", "", 1, 50, whole=True)
EXPIRES_DAYS = Quantity("expiry", "days", 1, 730, whole=True)
"""Two years at most: calibrations are redone at least yearly in a clinic's maintenance."""
EXPIRES_SHOTS = Quantity("expiry", "shots", 1, MAX_SHOTS, whole=True)

LIMIT = Quantity("limit", "rows", 1, 100_000, whole=True)
RECORD_ID = Quantity("id", "", 1, 2**63 - 1, whole=True)
"""SQLite's largest row id."""

FILE_PATH = Text("path", 4096)
"""A file path: any script, no control characters (a newline in a name splits a report)."""
PERSON = Text("person", 80)
ALARM_NAME = Text("alarm", 40, r"[A-Za-z0-9_]", "letters, digits and underscores (a name "
                  "such as occlusion, or a code such as 0x0101)")
REASON = Text("reason", 200)


class Day:
    """A calendar date, YYYY-MM-DD: an instrument's calibration due date."""

    name = "date"
    limit = "a date as YYYY-MM-DD"

    def check(self, value: object) -> date:
        if isinstance(value, date):
            return value
        try:
            if not isinstance(value, str) or len(value.strip()) != 10:
                raise ValueError
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueRefused(self.name, value, f"is not a date; give {self.limit}",
                               self.limit) from None


DUE_DATE = Day()


# ---- the service (injector serve, injector user, injector apikey) -----------------------

USER_NAME = Text("user name", 40, r"[a-z0-9._-]", "lowercase letters, digits, dots, hyphens "
                 "and underscores")
"""A sign-in name: plain ASCII, so a look-alike letter cannot pose as another user."""
KEY_NAME = Text("key name", 40, r"[a-z0-9._-]", "lowercase letters, digits, dots, hyphens "
                "and underscores")
TOKEN_MINUTES = Quantity("sign-in lifetime", "min", 1, 24 * 60, whole=True)
"""How long a sign-in lasts unused; a clinic's working day at the most."""


class Secret:
    """A PIN or a password, kept exactly as typed: 4 to 128 characters, any script, no
    control characters (a terminal or a form cannot carry them unchanged)."""

    name = "PIN or password"
    fewest, most = 4, 128
    limit = f"{fewest} to {most} characters, no control characters"

    def check(self, value: object) -> str:
        if not isinstance(value, str):
            raise ValueRefused(self.name, "(hidden)", f"is not text; give {self.limit}",
                               self.limit)
        if not self.fewest <= len(value) <= self.most:
            raise ValueRefused(self.name, "(hidden)", f"has {len(value)} characters; give "
                               f"{self.limit}", self.limit)
        if any(not c.isprintable() for c in value):
            raise ValueRefused(self.name, "(hidden)", f"holds a control character; give "
                               f"{self.limit}", self.limit)
        return value


SECRET = Secret()


class ListenAddress:
    """Where the service listens, HOST:PORT: an IP address (IPv6 in brackets) or a host
    name, and a port (0 picks a free one)."""

    name = "listen address"
    limit = "HOST:PORT, such as 127.0.0.1:8080 or [::1]:0 (port 0 picks a free one)"

    def check(self, value: object) -> tuple[str, int]:
        def refuse(problem: str) -> ValueRefused:
            return ValueRefused(self.name, value, f"{problem}; give {self.limit}", self.limit)

        if not isinstance(value, str) or not value.isascii() or len(value) > 300:
            raise refuse("is not a HOST:PORT")
        host, colon, port = value.strip().rpartition(":")
        if not colon or not host:
            raise refuse("has no HOST:PORT")
        if host.startswith("["):
            if not host.endswith("]"):
                raise refuse("has an unclosed [")
            host = host[1:-1]
        if not re.fullmatch(r"[A-Za-z0-9.:-]+", host):
            raise refuse("has a host that is neither an address nor a name")
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise refuse("has a port that is not 0 to 65535")
        return host, int(port)


LISTEN = ListenAddress()
