"""`injector sim`: a simulated gun served on ptys and a TCP port until it is told to stop."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from pathlib import Path

from drivers.urls import PortURLError
from injector.cli.common import UsageError, add_catalog_options, add_value, catalog_from
from injector.cli.ready_file import ready_file_option, remove_ready_file, write_ready_file
from injector.documents import sim_ready
from simulator.faults import DEVICE_FAULTS, FaultPlan
from simulator.gun import GUN_PARAMETERS, GunOptions, SimulatedGun, unique_serial
from simulator.serve import Bridges, GunServer

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Each stops the simulator cleanly (exit 0). SIGINT is handled explicitly: a background job
of a script starts with SIGINT ignored, and Ctrl-C must still stop it."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sim", help="run a simulated gun (serial pty, Modbus TCP, Modbus RTU pty)",
        description="Run the firmware and physics simulator behind one or more bridges. On "
                    "standard output, one line per port in this order: the serial pty's "
                    "path, the Modbus RTU pty's path, the Modbus TCP HOST:PORT, the balance's "
                    "pty, the gauge's pty (labelled on standard error); --ready-file writes "
                    "them as JSON, by name. Runs until Ctrl-C, SIGTERM or SIGHUP, then "
                    "closes its ports, removes its ready file and exits 0.",
        epilog="example: injector sim --serial --modbus-tcp 1502 --volume-gain 1.07 "
               "--fault occlusion@12 --ready-file sim.json\n"
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
    p.add_argument("--ready-file", type=ready_file_option, metavar="PATH",
                   help="once every port is served, write their URLs as JSON to PATH "
                        "(docs/schemas/sim-ready.json); removed when the simulator stops")
    add_value(p, "--serial-number", GUN_PARAMETERS["serial_number"],
              "default: SIM- and 8 random hex digits, new for every simulator")
    add_value(p, "--volume-gain", GUN_PARAMETERS["volume_gain"],
              "delivered / commanded volume (1.07 delivers 7%% more)", default=1.0,
              metavar="FACTOR")
    add_value(p, "--depth-offset-mm", GUN_PARAMETERS["depth_offset_mm"],
              "the tip goes this much deeper than commanded", default=0.0, metavar="MM")
    add_value(p, "--backlash-mm", GUN_PARAMETERS["backlash_mm"], default=0.0, metavar="MM")
    for name in PROFILE_OPTIONS:         # the gun's other imperfections and its instruments
        add_value(p, f"--{name.replace('_', '-')}", GUN_PARAMETERS[name],
                  f"default {getattr(GunOptions, name):g} (docs/calibration.md, "
                  "\"The simulated gun\")")
    p.add_argument("--needle", default="30G-4mm", help="mounted needle (sets line pressure)")
    p.add_argument("--fault", action="append", default=[], metavar="NAME[@SHOT]",
                   help="inject a fault, at shot SHOT or from the start (repeatable)")
    PAST = {"drop": "dropped", "corrupt": "corrupted", "duplicate": "duplicated",
            "delay": "delayed"}
    for name in PAST:
        add_value(p, f"--{name}-rate", GUN_PARAMETERS[f"{name}_rate"],
                  f"probability that a frame is {PAST[name]}",
                  default=0.0, metavar="P")
    add_value(p, "--delay-ms", GUN_PARAMETERS["delay_ms"], "delay of a delayed frame",
              default=20.0)
    add_value(p, "--watchdog-ms", GUN_PARAMETERS["watchdog_ms"], "watchdog timeout "
              "(default 250)")
    add_value(p, "--seed", GUN_PARAMETERS["seed"], "seed of the gun's scatter, its "
              "balance's noise and the link faults (default: from the serial number, so "
              "runs differ between guns)")
    p.set_defaults(handler=sim_command)


PROFILE_OPTIONS = ("volume_nonlinearity", "dose_cv", "drift_per_1000_shots", "temperature_c",
                   "gain_per_c", "first_shot_deficit_ul", "plunger_backlash_mm",
                   "depth_noise_mm", "balance_readability_mg", "evaporation_mg_per_min")


def sim_options(args: argparse.Namespace) -> GunOptions:
    needle = catalog_from(args).needle(args.needle)
    FaultPlan.parse(args.fault)         # refuse a bad fault before anything starts
    return GunOptions(
        serial_number=args.serial_number or unique_serial(), volume_gain=args.volume_gain,
        depth_offset_mm=args.depth_offset_mm, backlash_mm=args.backlash_mm,
        needle_inner_diameter_mm=needle.inner_diameter_mm, needle_length_mm=needle.length_mm,
        faults=list(args.fault), drop_rate=args.drop_rate, corrupt_rate=args.corrupt_rate,
        duplicate_rate=args.duplicate_rate, delay_rate=args.delay_rate, delay_ms=args.delay_ms,
        seed=args.seed, watchdog_ms=args.watchdog_ms,
        **{name: getattr(args, name) for name in PROFILE_OPTIONS
           if getattr(args, name) is not None}).checked()


def tcp_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise PortURLError(value, "expected [HOST:]PORT for --modbus-tcp")
    return host or "127.0.0.1", int(port)


def sim_command(args: argparse.Namespace) -> int:
    if not (args.serial or args.modbus_tcp or args.modbus_rtu):
        raise UsageError("injector sim", "give at least one of --serial, --modbus-tcp, "
                                         "--modbus-rtu")
    options = sim_options(args)
    bridges = Bridges(serial=args.serial, modbus_rtu=args.modbus_rtu,
                      modbus_tcp=tcp_address(args.modbus_tcp) if args.modbus_tcp else None,
                      balance=args.balance, gauge=args.gauge)
    asyncio.run(serve_until_stopped(options, bridges, args.ready_file))
    return 0


async def serve_until_stopped(options: GunOptions, bridges: Bridges,
                              ready_file: Path | None = None) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    server = GunServer(SimulatedGun(options))
    try:
        ports = await server.start(bridges)
        for _, where in ports.in_order():
            print(where, flush=True)
        pid = os.getpid()
        for what, where in ports.in_order():
            print(f"simulated gun {ports.serial_number}: {what} on {where}", file=sys.stderr)
        if ready_file is not None:
            write_ready_file(ready_file, sim_ready(ports, pid))
            print(f"ports written to {ready_file}", file=sys.stderr)
        print(f"stop it with Ctrl-C or SIGTERM (kill {pid})", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        if ready_file is not None:
            remove_ready_file(ready_file)
        await server.aclose()
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
