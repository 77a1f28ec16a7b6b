"""Open a driver from a URL, including `sim://` (a simulated gun inside this process, reached
through the real serial codec over an in-memory link).

    sim://?volume_gain=1.07&depth_offset_mm=0.2&fault=occlusion@12&drop_rate=0.05
"""

from __future__ import annotations

from drivers.driver import Driver
from drivers.serial_link import serial_driver
from drivers.urls import PortURL, PortURLError, open_url_driver
from drivers.values import ValueRefused
from simulator.gun import GUN_PARAMETERS, GunOptions, SimulatedGun, unique_serial


def gun_options_from(url: str, parsed: PortURL) -> GunOptions:
    """The simulator's options from a sim:// URL, each checked against its limit; a serial
    number of its own unless the URL gives one."""
    known = set(GUN_PARAMETERS) | {"fault"}
    options = GunOptions(serial_number=unique_serial())
    for name, raw in parsed.params.items():
        if name not in known:
            raise PortURLError(url, f"unknown simulator parameter {name!r} (known: "
                                    f"{', '.join(sorted(known))})")
        if name == "fault":
            options.faults.extend(f for f in raw.split(",") if f)
            continue
        try:
            setattr(options, name, GUN_PARAMETERS[name].check(raw))
        except ValueRefused as refused:
            raise PortURLError(url, str(refused)) from None
    return options.checked()


def open_driver(url: str) -> tuple[Driver, SimulatedGun | None]:
    """The driver for `url`, and the embedded gun when the URL is sim://."""
    parsed = PortURL.parse(url)
    if parsed.scheme == "sim":
        gun = SimulatedGun(gun_options_from(url, parsed))
        return serial_driver(gun.memory_port, name="sim"), gun
    return open_url_driver(url), None
