"""Serial bridge figures over a real pseudo-terminal, in real time.

Run: python bench/serial_bench.py
Prints the command round-trip time (median, 99th percentile), the bytes one shot costs on
the wire in each direction, and what that means at 115200 baud (10 bits per byte, 8N1).
"""

from __future__ import annotations

import asyncio
import platform

from drivers.framing import Frame, encode_frame
from drivers.messages import DeviceState, Fire, MsgType, ShotDone
from drivers.serial_link import serial_driver
from drivers.transport import open_serial_port
from simulator.gun import SimulatedGun
from injector.planner import plan
from profiles import load_catalog

BAUD = 115_200
ROUND_TRIPS = 2000
SHOTS = 400


def wire_ms(nbytes: int) -> float:
    return nbytes * 10 / BAUD * 1000


async def measure() -> dict:
    gun = SimulatedGun()
    path = gun.serve_pty()
    transport_box = []

    def port():
        transport_box.append(open_serial_port(path))
        return transport_box[-1]

    driver = serial_driver(port, name="bench")
    await driver.connect()
    driver.stats.rtt_s.clear()
    for _ in range(ROUND_TRIPS):
        await driver.status()
    p50, p99 = driver.stats.rtt_percentile_ms(0.5), driver.stats.rtt_percentile_ms(0.99)

    await driver.home()
    while gun.firmware.state is not DeviceState.IDLE:
        await asyncio.sleep(0.01)
    catalog = load_catalog()
    program = plan(catalog.preset("nappage-superficial"), catalog.zone("face"),
                   catalog.needle("32G-4mm"), catalog.syringe(10), shots=SHOTS).program
    await driver.load_program(program)
    await driver.arm()
    transport = transport_box[-1]
    sent0, read0 = transport.bytes_written, transport.bytes_read
    start = asyncio.get_running_loop().time()
    await driver.fire(SHOTS)
    shots = 0
    async for event in driver.events():
        shots += isinstance(event, ShotDone)
        if shots == SHOTS:
            break
    elapsed = asyncio.get_running_loop().time() - start
    sent, read = transport.bytes_written - sent0, transport.bytes_read - read0
    await driver.close()
    gun.close()

    status = len(encode_frame(Frame(MsgType.STATUS, 1)))
    status_ok = len(encode_frame(Frame(MsgType.OK, 1, bytes(34))))
    fire = len(encode_frame(Frame(MsgType.FIRE, 1, Fire(1).pack())))
    fire_ok = len(encode_frame(Frame(MsgType.OK, 1, b"\x08")))
    shot_event = len(encode_frame(Frame(MsgType.EV_SHOT, 1, bytes(17))))
    rate_hz = 1000 / program.shot_period_ms
    per_shot_down = read / SHOTS
    return {
        "serial_rtt_p50_ms": p50, "serial_rtt_p99_ms": p99,
        "status_wire_ms": wire_ms(status + status_ok),
        "bytes_per_shot_host_to_device": sent / SHOTS,
        "bytes_per_shot_device_to_host": per_shot_down,
        "shot_rate_hz": rate_hz, "run_s": elapsed,
        "link_load_at_rate": per_shot_down * rate_hz * 10 / BAUD,
        "single_shot_bytes": fire + fire_ok + shot_event,
    }


def main() -> dict:
    figures = asyncio.run(measure())
    print(f"serial bridge over a pty ({platform.python_version()}, {platform.machine()}), "
          f"simulator in the same process")
    print(f"  command round trip (STATUS, {ROUND_TRIPS} times): median "
          f"{figures['serial_rtt_p50_ms']:.3f} ms, p99 {figures['serial_rtt_p99_ms']:.3f} ms; "
          f"the same bytes take {figures['status_wire_ms']:.2f} ms on a 115200 baud wire")
    print(f"  a run of {SHOTS} shots at {figures['shot_rate_hz']:g} Hz: "
          f"{figures['bytes_per_shot_device_to_host']:.1f} bytes/shot device to host "
          f"(one 26-byte EV_SHOT, plus heartbeat replies), "
          f"{figures['bytes_per_shot_host_to_device']:.1f} bytes/shot host to device "
          f"(heartbeats)")
    print(f"  link load at 115200 baud: {figures['link_load_at_rate'] * 100:.2f}% of the "
          f"device-to-host direction; a single fired shot (FIRE, OK, EV_SHOT) is "
          f"{figures['single_shot_bytes']} bytes = {wire_ms(figures['single_shot_bytes']):.2f} ms "
          f"of wire time")
    return figures


if __name__ == "__main__":
    main()
