"""A calibration or verification run as a technician asks for it, from the terminal
(`injector calibrate`) or the service (its API and the touchscreen's wizard): the request,
its check before anything opens, and the run with its instruments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from drivers.urls import check_device
from drivers.values import ValueRefused
from injector import inputs
from injector.calibration import (
    CALIBRATION_PRESET, CALIBRATION_ZONE, DEPTHS_MM, DOSE_RUN_DEPTH_MM, DOSE_VOLUMES_UL,
    SHOTS_EACH, VERIFY_SHOTS_EACH, calibrate, verify,
)
from injector.calibration_state import TECHNICIAN_VALID_DAYS, TECHNICIAN_VALID_SHOTS
from injector.controller import Controller
from injector.errors import InjectorError
from injector.instrument_setup import open_instruments
from profiles import Catalog
from profiles.errors import PresetUseError

@dataclass(frozen=True)
class CalibrationRequest:
    """What to run and with what; each value already checked by its definition
    (injector/inputs.py). `balance`, `gauge`: an instrument's port URL, "prompt" (a person
    types its readings), or None (a simulated gun's own)."""
    what: str
    """dose, depth or verify"""
    port: str
    person: str
    needle: str = "30G-4mm"
    volumes: tuple[float, ...] = DOSE_VOLUMES_UL
    depths: tuple[float, ...] = DEPTHS_MM
    balance: str | None = None
    gauge: str | None = None
    shots_each: int | None = None
    balance_serial: str | None = None
    balance_due: date | None = None
    gauge_serial: str | None = None
    gauge_due: date | None = None
    temperature_c: float | None = None
    density: float | None = None
    expires_days: int = TECHNICIAN_VALID_DAYS
    expires_shots: int = TECHNICIAN_VALID_SHOTS


def check_calibration(request: CalibrationRequest, catalog: Catalog) -> None:
    """What each value cannot say alone, said before anything opens: a calibration has
    enough set values for a fit and no more than the gun stores, the instruments' ports
    exist, the needle can take the calibration shots, and the instruments the run needs are
    given. Raises ValueRefused naming `volumes` or `depths`, PresetUseError, InjectorError."""
    if request.what in ("dose", "depth"):
        values = request.volumes if request.what == "dose" else request.depths
        name = "volumes" if request.what == "dose" else "depths"
        try:
            inputs.CALIBRATION_POINTS.check(len(values))
        except ValueRefused as refused:
            raise ValueRefused(name, ",".join(f"{v:g}" for v in values),
                               f"{len(values)} set values; a calibration takes "
                               f"{refused.limit}", refused.limit) from None
    for port, what in ((request.balance, "the balance"), (request.gauge, "the depth gauge")):
        if port is not None and port != "prompt":
            check_device(port, port, what)
    preset, needle = catalog.preset(CALIBRATION_PRESET), catalog.needle(request.needle)
    if needle.name not in preset.needles:
        raise PresetUseError(
            f"needle {needle.name} cannot take the calibration shots ({preset.depth_mm:g} mm "
            f"nappage); mount one of {', '.join(preset.needles)} for the calibration",
            field="needle", value=needle.name, limit=list(preset.needles))
    # Every depth the run will fire at, against the needle and the envelope, before the
    # first reading is asked for (the gun's own envelope is checked again when connected).
    depths = ((DOSE_RUN_DEPTH_MM,) if request.what == "dose" else request.depths
              if request.what == "depth" else (DOSE_RUN_DEPTH_MM, *request.depths))
    for depth_mm in depths:
        catalog.envelope.check_depth(depth_mm, catalog.zone(CALIBRATION_ZONE), needle,
                                     source=f"depths {depth_mm:g}")
    is_sim = request.port.startswith("sim:")
    if request.what == "dose" and not (request.balance or is_sim):
        raise InjectorError("dose calibration needs --balance URL or --balance prompt")
    if request.what == "depth" and not (request.gauge or is_sim):
        raise InjectorError("depth calibration needs --gauge URL or --gauge prompt")


async def calibration_run(controller: Controller, catalog: Catalog,
                          request: CalibrationRequest, gun, readings, watch=None) -> dict:
    """The instruments opened, the calibration or verification run on the controller's gun,
    the instruments closed (`readings`: who answers a "prompt" instrument; `watch`: who sees
    a simulated gun's own instruments answer)."""
    setup = await open_instruments(request, gun, readings, watch)
    try:
        common = dict(person=request.person, balance=setup.balance, gauge=setup.gauge,
                      needle=request.needle, conditions=setup.conditions,
                      instruments=setup.instruments)
        if request.what == "verify":
            return await verify(controller, catalog, volumes=list(request.volumes),
                                depths=list(request.depths),
                                shots_each=request.shots_each or VERIFY_SHOTS_EACH, **common)
        return await calibrate(controller, catalog, request.what,
                               values=list(request.volumes if request.what == "dose"
                                           else request.depths),
                               shots_each=request.shots_each or SHOTS_EACH,
                               expires_days=request.expires_days,
                               expires_shots=request.expires_shots, **common)
    finally:
        setup.close()
