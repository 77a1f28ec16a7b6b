"""A simulated gun: one firmware core with the bridges attached to it.

`SimulatedGun` is what tests, the embedded `sim://` port and `injector sim` all build; one
device model, any number of bridges (serial over a pty or an in-memory pipe; Modbus later).
"""

from __future__ import annotations

import asyncio
import difflib
import os
import secrets
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from drivers.config import CONFIG_RANGES, DeviceConfig
from drivers.transport import ByteTransport, MemoryEnd, memory_pipe
from drivers.values import Quantity, Text, ValueRefused
from simulator.faults import FaultPlan, LinkFaults
from simulator.firmware import Firmware
from simulator.instruments import VirtualBalance, VirtualGauge
from simulator.modbus_adapter import ModbusAdapter
from simulator.modbus_server import CABLE_PULL_S, ModbusBridges
from simulator.physics import Imperfections, Needle
from simulator.pty_port import open_pty
from simulator.serial_adapter import SerialAdapter


@dataclass
class GunOptions:
    """Everything `injector sim` and `sim://` URLs can set."""

    serial_number: str = "SIM-000001"
    """Fixed for a gun built here, so golden vectors and tests stay reproducible; `injector
    sim`, `sim://` and the test fixtures draw a `unique_serial()` instead."""
    # The gun's imperfections (simulator/physics.py Imperfections, docs/calibration.md).
    volume_gain: float = Imperfections.volume_gain
    volume_nonlinearity: float = Imperfections.volume_nonlinearity
    dose_cv: float = Imperfections.dose_cv
    drift_per_1000_shots: float = Imperfections.drift_per_1000_shots
    temperature_c: float = Imperfections.temperature_c
    gain_per_c: float = Imperfections.gain_per_c
    first_shot_deficit_ul: float = Imperfections.first_shot_deficit_ul
    plunger_backlash_mm: float = Imperfections.plunger_backlash_mm
    depth_offset_mm: float = Imperfections.depth_offset_mm
    backlash_mm: float = Imperfections.backlash_mm
    depth_noise_mm: float = Imperfections.depth_noise_mm
    # The instruments beside it.
    balance_readability_mg: float = 0.1
    """0.1 (an analytical balance) or 0.01 (a semi-micro one, as ISO 8655-6 asks below 100 ul)."""
    evaporation_mg_per_min: float = 0.0
    """Water lost from the open cup on the pan: a trap when a weighing takes long."""
    needle_inner_diameter_mm: float = 0.159
    needle_length_mm: float = 4.0
    faults: list[str] = field(default_factory=list)
    drop_rate: float = 0.0
    corrupt_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_rate: float = 0.0
    delay_ms: float = 20.0
    seed: int | None = None
    """Seeds the gun's randomness (dose and depth scatter, the balance's noise, link faults);
    by default derived from the serial number, so a run is repeatable for one serial and
    differs between guns."""
    watchdog_ms: int | None = None
    calibrated_s: int | None = None
    """Unix time of the factory calibration (default: a day before the simulator starts)."""
    boot_id: int | None = None
    """The boot identity to report (default: a random one, as a real gun draws at power-up)."""
    modbus_unit: int = 1
    """The gun's Modbus unit (slave) id, 1 to 247: it answers no other on a shared bus."""
    nvram: str | None = None
    """A file that keeps the gun's configuration (its calibration included) across runs, as
    a real gun's non-volatile memory does: read at power-up, written on every change."""

    @classmethod
    def from_values(cls, values: Mapping[str, object], **defaults) -> GunOptions:
        """Options from named values (a sim:// URL's text, a test marker's numbers), each
        checked against its limit; `fault` is one fault or a comma-separated or listed few.
        `defaults` apply where `values` give nothing."""
        options = cls(**defaults)
        for name, value in values.items():
            if name == "fault":
                faults = value.split(",") if isinstance(value, str) else list(value)
                options.faults.extend(f for f in faults if f)
            elif name in GUN_PARAMETERS:
                setattr(options, name, GUN_PARAMETERS[name].check(value))
            else:
                near = difflib.get_close_matches(name, sorted({*GUN_PARAMETERS, "fault"}), n=1)
                raise ValueRefused(name, value, "is not a simulator parameter" + (
                    f"; did you mean {near[0]}?" if near else " (injector sim --help lists "
                                                               "them)"), "a simulator parameter")
        return options.checked()

    def checked(self) -> GunOptions:
        """These options, or ValueRefused naming the first one outside its limit: garbage in
        the simulator is garbage in the tests of everyone who uses it."""
        for name, kind in GUN_PARAMETERS.items():
            value = getattr(self, name)
            if value is not None:
                checked = kind.check(value)
                if checked != value or type(checked) is not type(value):
                    setattr(self, name, checked)
        FaultPlan.parse(self.faults)
        self.link_faults()
        check_nvram_path(self.nvram)
        return self

    @property
    def effective_seed(self) -> int:
        return self.seed if self.seed is not None else zlib.crc32(self.serial_number.encode())

    def imperfections(self) -> Imperfections:
        return Imperfections(**{f.name: getattr(self, f.name) for f in fields(Imperfections)})

    def link_faults(self) -> LinkFaults:
        return LinkFaults(drop_rate=self.drop_rate, corrupt_rate=self.corrupt_rate,
                          duplicate_rate=self.duplicate_rate, delay_rate=self.delay_rate,
                          delay_s=self.delay_ms / 1000, seed=self.effective_seed)


_PROBABILITY = dict(unit="", low=0.0, high=1.0)
_U32 = 2**32 - 1
GUN_PARAMETERS: dict[str, Quantity | Text] = {
    "serial_number": Text("serial_number", 32, r"[A-Za-z0-9-]+",
                          "letters, digits and hyphens"),
    "volume_gain": Quantity("volume_gain", "", 0.5, 2.0),
    "volume_nonlinearity": Quantity("volume_nonlinearity", "", -0.5, 0.5),
    "dose_cv": Quantity("dose_cv", "", 0.0, 0.2),
    "drift_per_1000_shots": Quantity("drift_per_1000_shots", "", -0.1, 0.1),
    "temperature_c": Quantity("temperature_c", "C", 10.0, 40.0),
    "gain_per_c": Quantity("gain_per_c", "", -0.01, 0.01),
    "first_shot_deficit_ul": Quantity("first_shot_deficit_ul", "ul", 0.0, 50.0),
    "plunger_backlash_mm": Quantity("plunger_backlash_mm", "mm", 0.0, 1.0),
    "depth_offset_mm": Quantity("depth_offset_mm", "mm", -2.0, 2.0),
    "backlash_mm": Quantity("backlash_mm", "mm", 0.0, 1.0),
    "depth_noise_mm": Quantity("depth_noise_mm", "mm", 0.0, 0.5),
    "balance_readability_mg": Quantity("balance_readability_mg", "mg", 0.001, 1.0),
    "evaporation_mg_per_min": Quantity("evaporation_mg_per_min", "mg/min", 0.0, 10.0),
    "needle_inner_diameter_mm": Quantity("needle_inner_diameter_mm", "mm", 0.05, 1.0),
    "needle_length_mm": Quantity("needle_length_mm", "mm", 1.0, 50.0),
    "drop_rate": Quantity("drop_rate", **_PROBABILITY),
    "corrupt_rate": Quantity("corrupt_rate", **_PROBABILITY),
    "duplicate_rate": Quantity("duplicate_rate", **_PROBABILITY),
    "delay_rate": Quantity("delay_rate", **_PROBABILITY),
    "delay_ms": Quantity("delay_ms", "ms", 0.0, 10_000.0),
    "seed": Quantity("seed", "", 0, 2**63 - 1, whole=True),
    "watchdog_ms": Quantity("watchdog_ms", "ms", *CONFIG_RANGES["watchdog_ms"],
                            whole=True),
    "calibrated_s": Quantity("calibrated_s", "s", 0, _U32, whole=True),
    "boot_id": Quantity("boot_id", "", 0, _U32, whole=True),
    "modbus_unit": Quantity("modbus_unit", "", 1, 247, whole=True),
    "nvram": Text("nvram", 4096),
}
"""Every simulator parameter with its type and limits: `sim://` URLs, `injector sim` and
`SimulatedGun` all check through this one table."""


def unique_serial() -> str:
    """A serial number no other simulated gun has (SIM- and eight random hex digits): the
    record keys calibrations, sessions and boots by serial, so two simulated guns sharing one
    would pass one gun's calibration, and its reboots, to the other."""
    return f"SIM-{secrets.token_hex(4).upper()}"


class NvramError(ValueError):
    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        super().__init__(f"simulated gun memory {path}: {reason}")


def check_nvram_path(path: str | None) -> None:
    """A gun's memory file is absent (a new gun) or a regular file; nothing else is opened
    (a FIFO would hang the simulator, a device would feed it garbage)."""
    if path is None or not os.path.lexists(path):
        return
    if not os.path.isfile(path) or os.path.islink(path):
        raise NvramError(path, "is not a regular file (a FIFO, a device, a folder or a link "
                               "is never read); give a new file name or one it wrote")
    if os.path.getsize(path) != DeviceConfig.FORMAT.size:
        raise NvramError(path, f"is {os.path.getsize(path)} bytes, not a gun's memory "
                               f"({DeviceConfig.FORMAT.size} bytes); give a new file name")


def load_nvram(path: str | None) -> DeviceConfig | None:
    """The configuration a simulated gun kept in `path`, or None for a factory-fresh gun."""
    check_nvram_path(path)
    if path is None or not os.path.lexists(path):
        return None
    try:
        with open(path, "rb") as image:
            data = image.read(DeviceConfig.FORMAT.size + 1)
        config = DeviceConfig.unpack(data)
    except (OSError, ValueError) as exc:
        raise NvramError(path, f"cannot be read as a configuration ({exc})") from None
    violation = config.range_violation()
    if violation is not None:
        name, value, limit = violation
        raise NvramError(path, f"holds {name} = {value}, outside its limit {limit}")
    return config


def save_nvram(path: str, config: DeviceConfig) -> None:
    """Written whole and renamed into place, so a crash never leaves half a configuration."""
    temporary = f"{path}.tmp"
    with open(temporary, "wb") as image:
        image.write(config.pack())
        image.flush()
        os.fsync(image.fileno())
    os.replace(temporary, path)


class SimulatedGun:
    def __init__(self, options: GunOptions | None = None) -> None:
        self.options = options = (options or GunOptions()).checked()
        self.firmware = Firmware(
            serial_number=options.serial_number,
            imperfections=options.imperfections(), seed=options.effective_seed,
            needle=Needle(inner_diameter_mm=options.needle_inner_diameter_mm,
                          length_mm=options.needle_length_mm),
            faults=FaultPlan.parse(options.faults), factory_calibrated_s=options.calibrated_s,
            config=load_nvram(options.nvram), boot_id=options.boot_id)
        if options.watchdog_ms is not None:
            self.firmware.config = replace(self.firmware.config, watchdog_ms=options.watchdog_ms)
        self._keep_config(self.firmware)
        self.adapters: list[SerialAdapter] = []
        self.modbus = ModbusBridges(ModbusAdapter(self.firmware, options.modbus_unit),
                                    options.link_faults)
        self.ptys: dict[str, ByteTransport] = {}
        """The device side of each pty served, by the path a host opens."""
        self._transports: list[ByteTransport] = []

    def attach_serial(self, transport: ByteTransport, channel: str) -> SerialAdapter:
        adapter = SerialAdapter(self.firmware, transport.write, self.options.link_faults(),
                                channel)
        transport.start(adapter.feed, lambda exc: None)
        self.adapters.append(adapter)
        self._transports.append(transport)
        return adapter

    def balance(self) -> VirtualBalance:
        """The balance beside this gun, weighing what it really dispenses."""
        options = self.options
        return VirtualBalance(self.firmware.physics, serial_number=f"{options.serial_number}-BAL",
                              readability_mg=options.balance_readability_mg,
                              evaporation_mg_per_min=options.evaporation_mg_per_min,
                              seed=options.effective_seed)

    def gauge(self) -> VirtualGauge:
        """The depth gauge beside this gun, reading where its tip really went."""
        return VirtualGauge(self.firmware.physics)

    def memory_port(self) -> MemoryEnd:
        """The host's end of an in-memory serial link to this gun."""
        host_end, device_end = memory_pipe()
        self.attach_serial(device_end, "serial:memory")
        return host_end

    def serve_pty(self) -> str:
        """Serve the serial bridge on a new pseudo-terminal; returns its path."""
        transport, path = open_pty()
        self.attach_serial(transport, f"serial:{path}")
        self.ptys[path] = transport
        return path

    def _keep_config(self, firmware: Firmware) -> None:
        if self.options.nvram is not None:
            path = self.options.nvram
            firmware.config_listeners.append(lambda config: save_nvram(path, config))

    def power_cycle(self) -> None:
        """Power off and on again: the firmware starts afresh (a new boot id, shot counter
        and event numbers from the start, not homed, the run and the alarms forgotten),
        keeping its configuration (non-volatile memory) and the mechanical gun with its
        syringe. The motors lose power: the needle's spring returns it to the nose."""
        old = self.firmware
        old.close()
        physics = old.physics
        now = old.now_s()
        physics.plunger.stop(now)
        physics.depth.set_position(0.0)
        self.firmware = Firmware(serial_number=old.serial_number, config=old.config,
                                 faults=old.faults, physics=physics)
        self._keep_config(self.firmware)
        for adapter in self.adapters:
            adapter.attach(self.firmware)
        self.modbus.attach(self.firmware)

    def unplug(self, cut_s: float = CABLE_PULL_S) -> None:
        """Pull the cables and put them back: every in-memory serial link closes (a USB port
        disappears), every pty and RTU line carries nothing for `cut_s`, every Modbus TCP
        connection drops; the firmware keeps running."""
        cut_until = asyncio.get_running_loop().time() + cut_s
        for adapter in self.adapters:
            adapter.cut_until = cut_until
        memory = [t for t in self._transports if isinstance(t, MemoryEnd)]
        for transport in memory:
            transport.close()
        self._transports = [t for t in self._transports if t not in memory]
        self.adapters = [a for a in self.adapters if not a.channel.endswith("memory")]
        self.modbus.unplug(cut_s)

    async def serve_modbus_tcp(self, host: str = "127.0.0.1", port: int = 0,
                               **trace) -> int:
        return await self.modbus.serve_tcp(host, port, **trace)

    async def serve_modbus_rtu(self, **trace) -> str:
        return await self.modbus.serve_rtu(**trace)

    async def aclose(self) -> None:
        await self.modbus.close()
        self.close()

    def close(self) -> None:
        self.firmware.close()
        for transport in self._transports:
            transport.close()
