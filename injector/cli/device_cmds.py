"""`injector sim` (serve a simulated gun) and `injector status` (ask a gun who and how it is)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from drivers.codes import alarm_name
from drivers.messages import DeviceState, StatusFlags
from injector.cli import exit_codes
from injector.cli.common import add_catalog_options, add_value, catalog_from, print_json
from drivers.urls import PortURLError
from injector.ports import open_driver
from simulator.faults import DEVICE_FAULTS, FaultPlan
from simulator.gun import GUN_PARAMETERS, GunOptions, SimulatedGun
from simulator.instruments import serve_lines


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sim", help="run a simulated gun (serial pty, Modbus TCP, Modbus RTU pty)",
        description="Run the firmware and physics simulator behind one or more bridges. On "
                    "standard output, one line per port in this order: the serial pty's "
                    "path, the Modbus RTU pty's path, the Modbus TCP HOST:PORT, the balance's "
                    "pty, the gauge's pty (labelled on standard error). Runs until "
                    "interrupted.",
        epilog="example: injector sim --serial --modbus-tcp 1502 --volume-gain 1.07 "
               "--fault occlusion@12\n"
               f"faults: {', '.join(sorted(DEVICE_FAULTS))}",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_catalog_options(p)
    p.add_argument("--serial", action="store_true",
                   help="serve the framed serial protocol on a new pty")
    p.add_argument("--modbus-tcp", metavar="[HOST:]PORT",
                   help="serve Modbus TCP (loopback unless HOST is given; port 0 picks one)")
    p.add_argument("--modbus-rtu", action="store_true",
                   help="serve Modbus RTU on a new pty (which carries no parity: hosts "
                        "connect with ?parity=N)")
    p.add_argument("--balance", action="store_true",
                   help="serve a virtual MT-SICS balance (weighing what the gun dispenses) on "
                        "a new pty")
    p.add_argument("--gauge", action="store_true",
                   help="serve a virtual depth gauge (the last insertion's true depth) on a "
                        "new pty")
    add_value(p, "--serial-number", GUN_PARAMETERS["serial_number"], default="SIM-000001")
    add_value(p, "--volume-gain", GUN_PARAMETERS["volume_gain"],
              "delivered / commanded volume (1.07 delivers 7%% more)", default=1.0,
              metavar="FACTOR")
    add_value(p, "--depth-offset-mm", GUN_PARAMETERS["depth_offset_mm"],
              "the tip goes this much deeper than commanded", default=0.0, metavar="MM")
    add_value(p, "--backlash-mm", GUN_PARAMETERS["backlash_mm"], default=0.0, metavar="MM")
    p.add_argument("--needle", default="30G-4mm", help="mounted needle (sets line pressure)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME[@SHOT]",
                   help="inject a fault, at shot SHOT or from the start (repeatable)")
    for name in ("drop", "corrupt", "duplicate", "delay"):
        add_value(p, f"--{name}-rate", GUN_PARAMETERS[f"{name}_rate"],
                  f"probability that a frame is {name}{'ed' if name != 'drop' else 'ped'}",
                  default=0.0, metavar="P")
    add_value(p, "--delay-ms", GUN_PARAMETERS["delay_ms"], "delay of a delayed frame",
              default=20.0)
    add_value(p, "--watchdog-ms", GUN_PARAMETERS["watchdog_ms"], "watchdog timeout "
              "(default 250)")
    add_value(p, "--seed", GUN_PARAMETERS["seed"], "seed of the link-fault generator",
              default=1)
    p.set_defaults(handler=sim_command)

    p = subparsers.add_parser(
        "status", help="identity and state of a gun",
        description="Connect to a gun, check its identity and print its state.",
        epilog="example: injector status --port /dev/ttyACM0 --json\n"
               "         injector status --port sim://",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", required=True, metavar="URL",
                   help="serial:///dev/pts/N (or a device path), modbus-tcp://HOST:PORT, "
                        "modbus-rtu:///dev/pts/N, or sim:// (embedded simulator)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=status_command)


def sim_options(args: argparse.Namespace) -> GunOptions:
    needle = catalog_from(args).needle(args.needle)
    FaultPlan.parse(args.fault)         # refuse a bad fault before anything starts
    return GunOptions(
        serial_number=args.serial_number, volume_gain=args.volume_gain,
        depth_offset_mm=args.depth_offset_mm, backlash_mm=args.backlash_mm,
        needle_inner_diameter_mm=needle.inner_diameter_mm, needle_length_mm=needle.length_mm,
        faults=list(args.fault), drop_rate=args.drop_rate, corrupt_rate=args.corrupt_rate,
        duplicate_rate=args.duplicate_rate, delay_rate=args.delay_rate, delay_ms=args.delay_ms,
        seed=args.seed, watchdog_ms=args.watchdog_ms).checked()


def tcp_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise PortURLError(value, "expected [HOST:]PORT for --modbus-tcp")
    return host or "127.0.0.1", int(port)


def sim_command(args: argparse.Namespace) -> int:
    if not (args.serial or args.modbus_tcp or args.modbus_rtu):
        print("injector sim: error: give at least one of --serial, --modbus-tcp, --modbus-rtu",
              file=sys.stderr)
        return exit_codes.USAGE
    options = sim_options(args)
    tcp = tcp_address(args.modbus_tcp) if args.modbus_tcp else None
    asyncio.run(_serve(options, serial=args.serial, modbus_tcp=tcp, modbus_rtu=args.modbus_rtu,
                       balance=args.balance, gauge=args.gauge))
    return 0


async def _serve(options: GunOptions, *, serial: bool, modbus_tcp: tuple[str, int] | None,
                 modbus_rtu: bool, balance: bool = False, gauge: bool = False) -> None:
    gun = SimulatedGun(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        served: list[tuple[str, str]] = []
        if serial:
            served.append(("serial protocol", gun.serve_pty()))
        if modbus_rtu:
            rtu = await gun.serve_modbus_rtu()
            served.append((f"Modbus RTU (a pty carries no parity: connect with "
                           f"modbus-rtu://{rtu}?parity=N)", rtu))
        if modbus_tcp:
            host, port = modbus_tcp
            try:
                port = await gun.serve_modbus_tcp(host, port)
            except (OSError, RuntimeError) as exc:
                raise PortURLError(f"{host}:{port}", f"cannot listen: {exc}") from None
            served.append(("Modbus TCP", f"{host}:{port}"))
        if balance:
            served.append(("MT-SICS balance", serve_lines(gun.balance())))
        if gauge:
            served.append(("depth gauge", serve_lines(gun.gauge())))
        for _, where in served:
            print(where, flush=True)
        for what, where in served:
            print(f"simulated gun {options.serial_number}: {what} on {where}", file=sys.stderr)
        print("Ctrl-C to stop", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await gun.aclose()


def status_command(args: argparse.Namespace) -> int:
    report = asyncio.run(_status(args.port))
    if args.json:
        print_json(report)
    else:
        print(f"{report['model']} serial {report['serial_number']}, firmware "
              f"{report['firmware_version']}, protocol {report['protocol_version']}, "
              f"config {report['config_hash']}")
        flags = [name for name in ("homed", "needle_present", "syringe_present",
                                   "program_loaded") if report[name]]
        print(f"state {report['state']} ({', '.join(flags) or 'nothing ready'}); alarms: "
              f"{', '.join(report['alarms']) or 'none'}")
        print(f"shots {report['shots_done']}, delivered {report['volume_delivered_ul']:g} ul, "
              f"syringe {report['syringe_remaining_ul']:g} ul, needle at "
              f"{report['depth_mm']:g} mm, line {report['pressure_kpa']} kPa")
    return 0


async def _status(url: str) -> dict:
    driver, gun = open_driver(url)
    try:
        identity = await driver.connect()
        status = await driver.status()
    finally:
        await driver.close()
        if gun is not None:
            gun.close()
    flags = StatusFlags(status.flags)
    return {
        "model": identity.model, "firmware_version": identity.firmware_version,
        "protocol_version": identity.protocol_version,
        "serial_number": identity.serial_number,
        "config_hash": f"{identity.config_hash:08x}",
        "state": DeviceState(status.state).name.lower(),
        "homed": StatusFlags.HOMED in flags,
        "needle_present": StatusFlags.NEEDLE_PRESENT in flags,
        "syringe_present": StatusFlags.SYRINGE_PRESENT in flags,
        "program_loaded": StatusFlags.PROGRAM_LOADED in flags,
        "alarms": [alarm_name(status.active_alarm)] if status.active_alarm else [],
        "alarm_count": status.alarm_count,
        "depth_mm": status.depth_um / 1000, "plunger_mm": status.plunger_um / 1000,
        "pressure_kpa": status.pressure_kpa, "shots_done": status.shots_done,
        "volume_measured_ul": status.volume_measured_nl / 1000,
        "volume_delivered_ul": status.volume_delivered_nl / 1000,
        "boot_id": f"{identity.boot_id:08x}",
        "syringe_remaining_ul": status.syringe_remaining_nl / 1000,
    }
