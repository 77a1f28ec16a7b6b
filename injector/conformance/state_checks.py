"""The promises a gun keeps without firing (docs/protocol.md, "Boot identity", "Limits
the firmware checks on receipt", "Sequence numbers and exactly-once"): who it is, what it
refuses, and the events it can tell again. Only event_replay moves the gun: it homes it."""

from __future__ import annotations

import math
import zlib
from dataclasses import replace

from drivers.codes import ERRORS
from drivers.device_limits import DEPTH_RANGE_UM, VOLUME_RANGE_NL
from drivers.framing import PROTOCOL_VERSION
from drivers.messages import DeviceState, EventsReplayed, GetEvents, MsgType, StatusFlags
from drivers.program import DeliveryCode, ShotProgram
from drivers.sequence import seq_distance
from injector.conformance.bench import Bench, cycle_ms, minimal_shot
from injector.conformance.common import expect
from injector.conformance.link import Event

EVENTS_LOST_BEHIND = 300
"""GET_EVENTS this many numbers behind the newest: past any 256-event ring."""


# ---- boot identity -----------------------------------------------------------------------

async def boot_identity(bench: Bench) -> str:
    identity = bench.identity
    expect(identity.protocol_version == PROTOCOL_VERSION,
           f"IDENTIFY says protocol {identity.protocol_version}, expected {PROTOCOL_VERSION}",
           identity.protocol_version)
    expect(identity.boot_id != 0, "IDENTIFY's boot_id is 0: it must be drawn, never 0", 0)
    expect(bool(identity.model) and bool(identity.serial_number),
           "IDENTIFY's model or serial number is empty", identity)
    boot = identity.boot_id
    beat, status = await bench.heartbeat(), await bench.status()
    for where, seen in (("HEARTBEAT", beat.boot_id), ("STATUS", status.boot_id)):
        expect(seen == boot, f"{where} says boot {seen:08x}, IDENTIFY {boot:08x}", seen)
    record = await bench.ok(MsgType.READ_CONFIG)
    expect(zlib.crc32(record) == identity.config_hash,
           f"config_hash {identity.config_hash:08x} is not the CRC-32 of READ_CONFIG's "
           f"record ({zlib.crc32(record):08x})", identity.config_hash)
    bench.link.open()                                   # the cable pulled and put back
    again = await bench.identify()
    bench.session ^= 0x5A5A_5A5A                        # and another host's session
    other = await bench.identify()
    for when, seen in (("after a reconnection", again), ("to a new session", other)):
        expect((seen.serial_number, seen.boot_id) == (identity.serial_number, boot),
               f"IDENTIFY {when} says serial {seen.serial_number} boot {seen.boot_id:08x}, "
               f"was {identity.serial_number} boot {boot:08x}", seen.boot_id)
    return (f"boot {boot:08x} in IDENTIFY, HEARTBEAT and STATUS, the same after a reconnection "
            f"and to a new session; config hash {identity.config_hash:08x} is READ_CONFIG's "
            "CRC-32")


# ---- limits ------------------------------------------------------------------------------

def limit_cases(config) -> list[tuple[str, ShotProgram, str, int]]:
    """(what, program, field refused, limit named): one field past one bound each, from the
    test shot, with the limits as the gun must name them (docs/protocol.md, "Limits")."""
    base = minimal_shot(config)
    depth_max = min(DEPTH_RANGE_UM[1], config.depth_travel_um)
    depth_top = config.depth_table.last_command(config.max_depth_um, depth_max)
    depth_bottom = config.depth_table.first_command(config.min_depth_um, DEPTH_RANGE_UM[0])
    dose_top = config.volume_table.last_command(config.max_dose_nl, VOLUME_RANGE_NL[1])
    dose_bottom = config.volume_table.first_command(config.min_dose_nl, VOLUME_RANGE_NL[0])
    cases = [("delivery 3", replace(base, delivery=max(DeliveryCode) + 1), "delivery",
              max(DeliveryCode)),
             ("depth past the mechanism", replace(base, depth_um=depth_max + 1), "depth_um",
              depth_max),
             ("volume past the mechanism", replace(base, volume_nl=VOLUME_RANGE_NL[1] + 1),
              "volume_nl", VOLUME_RANGE_NL[1])]
    if depth_top < depth_max:
        cases.append(("depth past the envelope", replace(base, depth_um=depth_top + 1),
                      "depth_um", depth_top))
    if depth_bottom > DEPTH_RANGE_UM[0]:
        cases.append(("depth short of the envelope", replace(base, depth_um=depth_bottom - 1),
                      "depth_um", depth_bottom))
    if dose_top < VOLUME_RANGE_NL[1]:
        cases.append(("dose past the envelope", replace(base, volume_nl=dose_top + 1),
                      "volume_nl", dose_top))
    if dose_bottom > VOLUME_RANGE_NL[0]:
        cases.append(("dose short of the envelope", replace(base, volume_nl=dose_bottom - 1),
                      "volume_nl", dose_bottom))
    top_rate = math.floor(config.plunger_speed_max_um_s * config.bore_area_mm2)
    fastest = replace(base, insert_speed_um_s=config.depth_speed_max_um_s,
                      retract_speed_um_s=config.depth_speed_max_um_s,
                      dispense_rate_nl_s=max(base.dispense_rate_nl_s, top_rate * 9 // 10))
    shortest = max(cycle_ms(fastest, config), config.min_shot_period_ms)
    if shortest > 1:
        cases.append(("period under the cycle or the envelope's rate",
                      replace(fastest, shot_period_ms=shortest - 1), "shot_period_ms",
                      shortest))
    return cases


async def limits(bench: Bench) -> str:
    config = bench.config
    loaded = (await bench.status()).flags & StatusFlags.PROGRAM_LOADED
    fields = ShotProgram.field_names()
    cases = limit_cases(config)
    for what, program, field, limit in cases:
        refusal = await bench.refused(MsgType.LOAD_PROGRAM, program.pack())
        sent = getattr(program, field)
        expect(refusal.code == ERRORS["out_of_range"].code,
               f"{what} ({field} {sent}) refused with error 0x{refusal.code:04X}, not "
               "out_of_range", refusal.code)
        expect(refusal.field == fields.index(field),
               f"{what}: the refusal names field {refusal.field}, not {fields.index(field)} "
               f"({field})", refusal.field)
        # The cycle is the gun's own arithmetic: a millisecond either way is its rounding.
        slack = 1 if field == "shot_period_ms" and limit > config.min_shot_period_ms else 0
        expect(refusal.value == sent and abs(refusal.limit - limit) <= slack,
               f"{what}: refused with value {refusal.value} limit {refusal.limit}, expected "
               f"{sent} and {limit}", (refusal.value, refusal.limit))
    now = (await bench.status()).flags & StatusFlags.PROGRAM_LOADED
    expect(now == loaded, "a refused program changed whether a program is loaded", now)
    await bench.ok(MsgType.LOAD_PROGRAM, minimal_shot(config))
    return (f"{len(cases)} programs one field past a bound refused out_of_range with the field, "
            "value and limit; the test shot accepted")


# ---- event replay ------------------------------------------------------------------------

async def event_replay(bench: Bench) -> str:
    link = bench.link
    newest = (await bench.heartbeat()).last_event_seq
    first = len(link.events)
    await bench.ok(MsgType.HOME)
    await bench.until_state(DeviceState.IDLE)
    now = (await bench.heartbeat()).last_event_seq
    count = seq_distance(now, newest)
    await link.wait_for(lambda: len(_live(link.events[first:], newest)) >= count, 1.0,
                        f"the {count} events of homing")
    live = _live(link.events[first:], newest)
    expect(count >= 2 and [e.seq for e in live] == [(newest + 1 + i) & 0xFFFF
                                                     for i in range(count)],
           f"homing sent events {[e.seq for e in live]}, expected {count} (at least 2) "
           f"numbered from {(newest + 1) & 0xFFFF}", [e.seq for e in live])
    from_seq = (newest + 1) & 0xFFFF
    replayed_from = len(link.events)
    body = EventsReplayed.unpack(await bench.ok(MsgType.GET_EVENTS, GetEvents(from_seq)))
    expect(body.count == count, f"GET_EVENTS from {from_seq} counts {body.count}, the gun "
           f"sent {count} since", body.count)
    await link.wait_for(lambda: len(link.events) - replayed_from >= count, 1.0,
                        f"the {count} replayed events")
    replayed = link.events[replayed_from:replayed_from + count]
    expect(replayed == live, "the replay differs from the events as first sent", replayed)
    past = (now + 1) & 0xFFFF
    nothing = EventsReplayed.unpack(await bench.ok(MsgType.GET_EVENTS, GetEvents(past)))
    expect(nothing.count == 0, f"GET_EVENTS past the newest ({past}) counts {nothing.count}",
           nothing.count)
    gone = (now - EVENTS_LOST_BEHIND) & 0xFFFF
    refusal = await bench.refused(MsgType.GET_EVENTS, GetEvents(gone).pack())
    expect(refusal.code == ERRORS["events_lost"].code and refusal.value == gone,
           f"GET_EVENTS of {gone}, {EVENTS_LOST_BEHIND} behind the newest, refused with error "
           f"0x{refusal.code:04X} value {refusal.value}, not events_lost value {gone}", refusal)
    return (f"the {count} events of homing replayed byte for byte from {from_seq}; none past "
            f"the newest; {gone} refused events_lost (oldest held {refusal.limit})")


def _live(events: list[Event], newest: int) -> list[Event]:
    """The first copy of each event after `newest`, in arrival order."""
    seen: dict[int, Event] = {}
    for event in events:
        if seq_distance(event.seq, newest) > 0 and event.seq not in seen:
            seen[event.seq] = event
    return list(seen.values())
