"""Gravimetry, as ISO 8655-6 does it: water's density from its temperature, the air's
buoyancy on the water and on the balance's steel weights, and the Z-factor that turns a
balance reading (mg) into a volume (ul). Shared by the simulated balance (which must weigh
as a real one does) and the host (which must undo it), so both use one formula.
"""

from __future__ import annotations

AIR_DENSITY_G_ML = 0.0012
"""Air at about 20 C, 101 kPa and 50% humidity (ISO 8655-6 uses it unless measured)."""
WEIGHTS_DENSITY_G_ML = 8.0
"""The steel weights a balance is adjusted with."""
TEMPERATURE_RANGE_C = (15.0, 30.0)
"""ISO 8655-6 gravimetry: water and room between 15 and 30 C."""


def water_density_g_ml(temperature_c: float) -> float:
    """Air-free pure water (Tanaka et al., Metrologia 38, 2001), g/ml: 0.998207 at 20 C,
    0.997048 at 25 C."""
    t = temperature_c
    a1, a2, a3, a4, a5 = -3.983035, 301.797, 522528.9, 69.34881, 999.974950
    return a5 * (1 - (t + a1) ** 2 * (t + a2) / (a3 * (t + a4))) / 1000


def apparent_mass_mg(volume_ul: float, liquid_density_g_ml: float) -> float:
    """What a balance adjusted with steel weights shows for `volume_ul` of liquid in air:
    less than its true mass by the air it displaces."""
    return volume_ul * (liquid_density_g_ml - AIR_DENSITY_G_ML) / (
        1 - AIR_DENSITY_G_ML / WEIGHTS_DENSITY_G_ML)


def z_factor_ul_per_mg(liquid_density_g_ml: float) -> float:
    """ul per mg of balance reading: 1.0029 for water at 20 C (ISO 8655-6, Annex A)."""
    return (1 - AIR_DENSITY_G_ML / WEIGHTS_DENSITY_G_ML) / (
        liquid_density_g_ml - AIR_DENSITY_G_ML)
