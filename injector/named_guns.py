"""Simulated guns inside this process, reached by name as `sim://NAME`.

A plain `sim://` port is a new gun at every connect. A named gun is one gun that every
connection to `sim://NAME` meets, as a gun on a cable is: its shots, latched alarms and
memory stay between a session and the next `status`. It is made on the event loop of its
first connection, so it runs in that loop's time (virtual time under looptime), and it can
only be reached from that loop. The pytest plugin's `injector_sim_memory` fixture adds one
per test (injector/testing/plugin.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from drivers.urls import PortURLError
from drivers.values import ValueRefused
from simulator.gun import GUN_PARAMETERS, GunOptions, SimulatedGun


class NamedGunError(PortURLError):
    """A named gun that cannot be added or reached; carries the URL."""


@dataclass
class _Slot:
    options: GunOptions
    gun: SimulatedGun | None = None
    loop: asyncio.AbstractEventLoop | None = None


class NamedGuns:
    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def add(self, name: str, options: GunOptions) -> str:
        """Add a gun under `name` (the serial number rule: letters, digits, hyphens); its
        port URL. Nothing runs until the first connection."""
        url = f"sim://{name}"
        try:
            GUN_PARAMETERS["serial_number"].check(name)
        except ValueRefused as refused:
            raise NamedGunError(url, f"the name {refused.problem}") from None
        if name in self._slots:
            raise NamedGunError(url, "a gun of that name is already added")
        self._slots[name] = _Slot(options.checked())
        return url

    def gun(self, name: str, url: str) -> SimulatedGun:
        """The gun named `name`, made now if this is its first connection."""
        slot = self._slots.get(name)
        if slot is None:
            known = ", ".join(sorted(self._slots)) or "none"
            raise NamedGunError(url, f"no simulated gun named {name!r} in this process "
                                     f"(named: {known}); sim:// alone makes a new one")
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise NamedGunError(url, "a named gun is reached from a running event "
                                     "loop") from None
        if slot.gun is None:
            slot.gun, slot.loop = SimulatedGun(slot.options), loop
        elif slot.loop is not loop:
            raise NamedGunError(url, "this gun runs on another event loop (each "
                                     "asyncio.run is a new one); serve a gun on a pty for "
                                     "separate commands (injector sim, or the injector_sim "
                                     "fixture)")
        return slot.gun

    async def remove(self, name: str) -> None:
        """Remove the gun and close it, if it was made on this loop; a gun whose loop has
        ended ended with it."""
        slot = self._slots.pop(name, None)
        if slot is None or slot.gun is None:
            return
        if slot.loop is asyncio.get_running_loop():
            await slot.gun.aclose()


NAMED_GUNS = NamedGuns()
