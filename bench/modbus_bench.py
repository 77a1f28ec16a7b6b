"""Modbus figures against the simulated gun, in real time.

Run: python bench/modbus_bench.py
Prints, for Modbus TCP and Modbus RTU (115200 baud over a pty): the round trip of a status
read and of a command (median, 99th percentile) against the wire time of the same bytes at
115200 baud, and the sustained shots per second of superficial nappage at the gun's
mechanical limit, as the host driver sees them arrive.
"""

from __future__ import annotations

import asyncio
import math
import platform

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from drivers.messages import DeviceState, ShotDone
from drivers.modbus_link import modbus_driver
from injector.planner import Overrides, plan
from profiles import load_catalog
from simulator.gun import SimulatedGun

ROUND_TRIPS = 500
SHOTS = 300
BAUD = 115_200
STATUS_BYTES_RTU = 8 + 5 + 36          # request, answer header + 18 registers + CRC
COMMAND_BYTES_RTU = 19 + 21            # FC23 request and answer


def wire_ms(nbytes: int) -> float:
    return nbytes * 10 / BAUD * 1000


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] * 1000


async def measure(kind: str) -> dict:
    gun = SimulatedGun()
    if kind == "tcp":
        port = await gun.serve_modbus_tcp()
        make = lambda: AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.06, retries=0)  # noqa: E731
    else:
        path = await gun.serve_modbus_rtu()
        make = lambda: AsyncModbusSerialClient(path, baudrate=BAUD, timeout=0.06, retries=0)  # noqa: E731
    driver = modbus_driver(make, name=kind)
    await driver.connect()
    loop = asyncio.get_running_loop()
    reads, commands = [], []
    for _ in range(ROUND_TRIPS):
        start = loop.time()
        await driver.status()
        reads.append(loop.time() - start)
    for _ in range(ROUND_TRIPS // 5):
        start = loop.time()
        await driver.home()
        commands.append(loop.time() - start)
        while gun.firmware.state is not DeviceState.IDLE:
            await asyncio.sleep(0.005)
    catalog = load_catalog()
    base = plan(catalog.preset("nappage-superficial"), catalog.zone("face"),
                catalog.needle("32G-4mm"), catalog.syringe(10), shots=1)
    fastest = math.floor(base.max_rate_hz * 1000) / 1000
    program = plan(catalog.preset("nappage-superficial"), catalog.zone("face"),
                   catalog.needle("32G-4mm"), catalog.syringe(10), shots=SHOTS,
                   overrides=Overrides(shot_rate_hz=fastest)).program
    await driver.load_program(program)
    await driver.arm()
    start = loop.time()
    await driver.fire(SHOTS)
    done = 0
    async for event in driver.events():
        if isinstance(event, ShotDone):
            done += 1
            if done == SHOTS:
                break
    elapsed = loop.time() - start
    await driver.close()
    await gun.aclose()
    return {
        f"modbus_{kind}_rtt_p50_ms": percentile(reads, 0.5),
        f"modbus_{kind}_rtt_p99_ms": percentile(reads, 0.99),
        f"modbus_{kind}_command_p50_ms": percentile(commands, 0.5),
        f"modbus_{kind}_command_p99_ms": percentile(commands, 0.99),
        f"modbus_{kind}_shots_per_s": SHOTS / elapsed,
        "mechanical_limit_hz": 1000 / program.shot_period_ms,
    }


def main() -> dict:
    figures = {}
    for kind in ("tcp", "rtu"):
        figures |= asyncio.run(measure(kind))
    print(f"Modbus bridges ({platform.python_version()}, {platform.machine()}), simulator in "
          f"the same process")
    for kind, label in (("tcp", "Modbus TCP (loopback)"), ("rtu", "Modbus RTU (pty)")):
        print(f"  {label}: status read median {figures[f'modbus_{kind}_rtt_p50_ms']:.2f} ms, "
              f"p99 {figures[f'modbus_{kind}_rtt_p99_ms']:.2f} ms; command (FC23) median "
              f"{figures[f'modbus_{kind}_command_p50_ms']:.2f} ms, p99 "
              f"{figures[f'modbus_{kind}_command_p99_ms']:.2f} ms; "
              f"{figures[f'modbus_{kind}_shots_per_s']:.1f} shots/s sustained")
    print(f"  on a real 115200 baud RS-485 line the same bytes take {wire_ms(STATUS_BYTES_RTU):.2f} "
          f"ms (status read) and {wire_ms(COMMAND_BYTES_RTU):.2f} ms (command); the gun's "
          f"mechanical limit for superficial nappage is {figures['mechanical_limit_hz']:.1f} "
          f"shots/s")
    return figures


if __name__ == "__main__":
    main()
