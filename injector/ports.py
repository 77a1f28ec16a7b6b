"""Open a driver from a URL, including the simulated guns inside this process, reached
through the real serial codec over an in-memory link:

    sim://?volume_gain=1.07&depth_offset_mm=0.2&fault=occlusion@12&drop_rate=0.05
    sim://SIM-BENCH-1      (a gun added by name: injector/named_guns.py)
"""

from __future__ import annotations


from drivers.driver import Driver
from drivers.serial_link import serial_driver
from drivers.urls import SCHEMES, PortURL, PortURLError, check_url, open_url_driver
from drivers.values import ValueRefused
from injector.named_guns import NAMED_GUNS
from simulator.gun import GunOptions, SimulatedGun, unique_serial


def gun_options_from(url: str, parsed: PortURL) -> GunOptions:
    """The simulator's options from a sim:// URL, each checked against its limit; a serial
    number of its own unless the URL gives one."""
    try:
        return GunOptions.from_values(parsed.params, serial_number=unique_serial())
    except ValueRefused as refused:
        raise PortURLError(url, str(refused)) from None


def _known(url: str) -> PortURL:
    """The URL parsed, its scheme one of the drivers' or the simulator's."""
    parsed = PortURL.parse(url)
    if parsed.scheme != "sim" and parsed.scheme not in SCHEMES:
        raise PortURLError(url, f"unknown scheme {parsed.scheme!r} (known: "
                                f"{', '.join(s + '://' for s in SCHEMES)}, sim://, or a "
                                "device path)")
    return parsed


def check_port_url(url: str) -> None:
    """Refuse a bad port before anything is asked or opened: its URL, its parameters, a
    simulator's options, a device path that cannot be a serial port. Builds nothing."""
    parsed = _known(url)
    if parsed.scheme == "sim":
        gun_options_from(url, parsed)
    else:
        check_url(url)


def open_driver(url: str) -> tuple[Driver, SimulatedGun | None]:
    """The driver for `url`, and the gun when the URL made one (the caller closes it);
    a named gun outlives the connection, so it is not returned."""
    parsed = _known(url)
    if parsed.scheme == "sim" and parsed.location:
        if parsed.params:
            raise PortURLError(url, "a named gun's options are given when it is added; "
                                    "give sim://NAME alone")
        gun = NAMED_GUNS.gun(parsed.location, url)
        return serial_driver(gun.memory_port, name=url), None
    if parsed.scheme == "sim":
        gun = SimulatedGun(gun_options_from(url, parsed))
        return serial_driver(gun.memory_port, name="sim"), gun
    return open_url_driver(url), None
