"""The reliability suite. `make chaos` runs it at full size (INJECTOR_CHAOS=full); CI runs
the short size with every `make test`.

- frames into the serial decoder: random bytes and mutated valid frames; nothing crashes and
  no damaged frame is ever accepted;
- random register writes into the Modbus server: it keeps answering, and the configuration
  never leaves its ranges;
- shots under loss, corruption, duplication, delays and disconnects, over each bridge:
  exactly the commanded shots;
- a clinic day: sessions one after another, syringe changes, faults, acknowledgements; the
  record complete and consistent at the end.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter

import pytest

from drivers import modbus_map as mm
from drivers.codes import ALARMS
from drivers.config import CONFIG_RANGES
from drivers.framing import Frame, FrameDecoder, encode_frame
from drivers.messages import DeviceState
from drivers.serial_link import serial_driver
from injector.controller import Controller
from injector.session import run_session
from injector.store import Store
from simulator.faults import FaultAt
from simulator.gun import GunOptions, SimulatedGun
from tests.rig import treatment, CATALOG, make_rig, raw_modbus_tcp

FULL = os.environ.get("INJECTOR_CHAOS") == "full"
FRAMES = 1_000_000 if FULL else 20_000
REGISTER_WRITES = 100_000 if FULL else 2_000
SHOTS = 10_000 if FULL else 400
CLINIC_HOURS = 8.0 if FULL else 0.25


def test_the_decoder_never_crashes_nor_accepts_a_damaged_frame():
    rng = random.Random(11)
    decoder = FrameDecoder()
    sent: list[Frame] = []
    must_arrive: list[Frame] = []
    accepted: list[Frame] = []
    delimited = True            # did the previous chunk end with 0x00?
    for n in range(FRAMES):
        frame = Frame(rng.randrange(256), rng.randrange(65536),
                      rng.randbytes(rng.randrange(0, 40)))
        wire = bytearray(encode_frame(frame))
        kind = rng.randrange(4)
        if kind == 0:
            sent.append(frame)                              # intact
        elif kind == 1:                                     # 1 to 3 bits flipped
            for _ in range(rng.randint(1, 3)):
                bit = rng.randrange((len(wire) - 1) * 8)
                wire[bit // 8] ^= 1 << (bit % 8)
        elif kind == 2:                                     # a burst of up to 16 bits
            start = rng.randrange(max(1, (len(wire) - 1) * 8 - 16))
            for bit in range(start, start + rng.randint(2, 16)):
                wire[bit // 8] ^= rng.randrange(2) << (bit % 8)
        else:                                               # random bytes, no frame at all
            wire = bytearray(rng.randbytes(rng.randrange(1, 60)))
        if kind in (1, 2) and bytes(wire) == encode_frame(frame):
            sent.append(frame)                  # the flips cancelled out: still intact
        if sent and sent[-1] is frame and delimited:
            must_arrive.append(frame)           # garbage without a 0x00 spoils what follows
        delimited = wire.endswith(b"\x00")
        for chunk in (wire[:len(wire) // 2], wire[len(wire) // 2:]):
            accepted += decoder.feed(bytes(chunk))
    accepted += decoder.feed(b"\x00")
    intact = {(f.type, f.seq, f.payload) for f in sent}
    damaged = [f for f in accepted if (f.type, f.seq, f.payload) not in intact]
    # Flips of 1-3 bits and bursts up to 16 bits are always caught by CRC-16/CCITT (an odd
    # count, two bits, a short burst); random bytes that happen to check out are valid frames
    # by definition, and re-encode to themselves.
    assert all(encode_frame(f) for f in damaged)
    assert len(damaged) <= FRAMES // 4 * 2 ** -16 * 10
    arrived = Counter(f for f in accepted if (f.type, f.seq, f.payload) in intact)
    # Every intact frame after a delimiter arrived; nothing arrived that was not sent intact.
    assert Counter(must_arrive) <= arrived <= Counter(sent)


async def test_random_register_writes_never_break_the_modbus_server():
    gun = SimulatedGun(GunOptions())
    client = await raw_modbus_tcp(gun)
    rng = random.Random(5)
    answered = 0
    try:
        for _ in range(REGISTER_WRITES):
            address = rng.choice([rng.randrange(0, 500), rng.randrange(200, 213),
                                  rng.randrange(300, 311), rng.randrange(400, 430), 460])
            if rng.random() < 0.5:
                response = await client.write_register(address, rng.randrange(65536),
                                                       device_id=1)
            else:
                count = rng.randint(1, 8)
                response = await client.write_registers(
                    address, [rng.randrange(65536) for _ in range(count)], device_id=1)
            if response.isError():
                assert response.exception_code in (1, 2, 3, 4)
            answered += 1
            if rng.random() < 0.01:                     # now and then, the technician unlock
                for key in mm.UNLOCK_KEYS:
                    await client.write_register(mm.UNLOCK, key, device_id=1)
        config = gun.firmware.config
        assert config.range_violation() is None
        assert set(CONFIG_RANGES) == {f.name for f in mm.CONFIG}
        identity = await client.read_input_registers(0, count=22, device_id=1)
        assert not identity.isError()                   # still answering, still itself
    finally:
        client.close()
        await gun.aclose()
    assert answered == REGISTER_WRITES


@pytest.mark.parametrize("bridge", ["serial-memory", "modbus-tcp", "modbus-rtu"])
async def test_exactly_the_commanded_shots_under_every_link_fault(bridge):
    rig = await make_rig(bridge, drop_rate=0.05, corrupt_rate=0.02, duplicate_rate=0.03,
                         delay_rate=0.02, delay_ms=40, seed=23)
    try:
        await rig.ready()
        given = pulls = 0
        rng = random.Random(3)
        while given < SHOTS:
            if rng.random() < 0.05:
                rig.gun.unplug()                        # a cable pulled between runs
                pulls += 1
            if rig.firmware.syringe_remaining_nl < 2_000_000:
                await rig.driver.disarm()
                await rig.driver.syringe_loaded(10_000_000)
                await rig.driver.arm()
            batch = min(25, SHOTS - given)
            before = len(rig.shots())
            await rig.driver.fire(batch)
            await rig.until(lambda: len(rig.shots()) == before + batch
                            and rig.states()[-1] is DeviceState.ARMED, 60.0, "a batch")
            given += batch
        assert [s.shot_index for s in rig.shots()] == list(range(1, SHOTS + 1))
        assert rig.firmware.shots_done == SHOTS
        assert rig.firmware.physics.true_dispensed_ul == pytest.approx(SHOTS * 10.0, rel=1e-6)
        # Every failure was seen and counted, none hidden: damaged and duplicated traffic,
        # answers that never came (retransmitted), and on serial each pulled cable.
        stats = rig.driver.stats
        assert pulls > 0 and stats.retransmits > 0 and stats.frames_bad > 0
        if bridge == "serial-memory":
            assert stats.reconnects >= pulls
            assert stats.duplicate_events + stats.late_replies > 0
        assert not any(a.code == ALARMS["watchdog"].code for a in rig.alarms())
    finally:
        await rig.close()


async def test_a_clinic_day_leaves_a_complete_and_consistent_record(tmp_path):
    rng = random.Random(7)
    store = Store(tmp_path / "clinic.db")
    gun = SimulatedGun(GunOptions(serial_number="SIM-CLINIC"))
    loop = asyncio.get_running_loop()
    start = loop.time()
    treatments = [("nappage-superficial", "face", "32G-4mm"), ("nappage-middle", "scalp",
                                                               "30G-4mm"),
                  ("classical", "neck", "32G-4mm"), ("pinpoint", "back", "30G-6mm"),
                  ("infiltration", "thighs", "30G-13mm"), ("papular", "hands", "30G-4mm")]
    sessions = 0
    try:
        while loop.time() - start < CLINIC_HOURS * 3600:
            preset, zone, needle = rng.choice(treatments)
            if rng.random() < 0.3:                      # a fault somewhere in this session
                name = rng.choice(["occlusion", "needle_removed", "motor_stall",
                                   "plunger_stall", "emergency_stop"])
                gun.firmware.faults.faults.append(
                    FaultAt(name, gun.firmware.shots_done + rng.randint(2, 40)))
            controller = Controller(serial_driver(gun.memory_port), store, person="Dr. Ilić")
            result = await run_session(controller, CATALOG, treatment(
                preset, zone, needle, shots=rng.randint(20, 150), person="Dr. Ilić"))
            sessions += 1
            if result.status != "completed":            # a person acknowledges, re-homes
                for code in list(controller.latched):
                    await controller.acknowledge(code, "Dr. Ilić")
                gun.firmware.faults.faults.clear()
                gun.firmware.physics.needle_present = True
            await controller.close()
            await asyncio.sleep(rng.uniform(60, 600))   # the next patient
        records = store.history(limit=100_000)
        assert len(records) == sessions and all(r.status != "running" for r in records)
        total = 0
        for row in records:
            indices = [s["shot_index"] for s in store.shots(row.id)]
            assert indices == sorted(indices) and len(set(indices)) == len(indices)
            total += len(indices)
            for alarm in store.alarms(row.id):
                assert alarm["name"] in ALARMS
        assert total == gun.firmware.shots_done         # every shot the gun gave, recorded
        assert store.integrity_ok()
    finally:
        await gun.aclose()
