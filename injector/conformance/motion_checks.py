"""The promises that keep a patient safe while the gun moves (docs/protocol.md, "Sequence
numbers and exactly-once", "Priority, heartbeat and watchdog"): a dose never given twice,
stop before anything, and a silent host stops the gun. Each fires at most the test shot."""

from __future__ import annotations

from drivers.codes import ALARMS, alarm_name
from drivers.framing import Frame, encode_frame
from drivers.messages import (
    AckAlarm, DeviceState, Fire, MsgType, StateChanged, StatusFlags, latched_codes,
)
from injector.conformance.bench import Bench, describe_error, minimal_shot
from injector.conformance.common import alarm_in, expect, said, state_change_in
from injector.conformance.link import Event

RUN_TIMEOUT_S = 3.0
"""A one-shot run of the test shot lasts well under a second."""


# ---- exactly once ------------------------------------------------------------------------

async def exactly_once(bench: Bench) -> str:
    link = bench.link
    before = (await bench.armed()).shots_done
    mark = len(link.events)
    seq = link.next_seq()
    fire = encode_frame(Frame(MsgType.FIRE, seq, Fire(1).pack()))
    future = link.expect(seq)
    link.write(fire)
    first = await link.answer(future, "FIRE 1")
    expect(first.type == MsgType.OK, f"FIRE 1 refused: {said(first)}", first)
    await link.wait_for(lambda: _run_over(link.events[mark:]), RUN_TIMEOUT_S,
                        "the end of the one-shot run (EV_STATE FIRING to ARMED)")
    status = await bench.status()
    expect(status.shots_done == before + 1, f"FIRE 1 gave {status.shots_done - before} shots",
           status.shots_done)
    for when in ("on the same connection", "after a reconnection"):
        if when.startswith("after"):
            link.open()
            await bench.identify()                  # the same session: the cache stays
        mark = len(link.events)
        future = link.expect(seq)
        link.write(fire)
        again = await link.answer(future, f"FIRE retransmitted {when}")
        expect(again.type == first.type and again.payload == first.payload,
               f"FIRE retransmitted {when} answered {said(again)}, first {said(first)}",
               again)
        status = await bench.status()
        fired = [e for e in link.events[mark:] if e.type == MsgType.EV_SHOT
                 or (e.type == MsgType.EV_STATE
                     and StateChanged.unpack(e.payload).state == DeviceState.FIRING)]
        expect(status.shots_done == before + 1 and not fired
               and status.state == DeviceState.ARMED,
               f"FIRE retransmitted with seq {seq} {when} fired again: shots_done "
               f"{status.shots_done}, state {DeviceState(status.state).name}",
               status.shots_done)
    await bench.ok(MsgType.DISARM)
    return (f"one test shot; FIRE seq {seq} sent again on the same connection and after a "
            "reconnection answered from the cache, nothing fired")


def _run_over(events: list[Event]) -> bool:
    changes = (StateChanged.unpack(e.payload) for e in events if e.type == MsgType.EV_STATE)
    return any((c.state, c.previous) == (DeviceState.ARMED, DeviceState.FIRING)
               for c in changes)


# ---- stop first --------------------------------------------------------------------------

async def stop_first(bench: Bench) -> str:
    seen = []
    for stop, after in ((MsgType.HOLD, DeviceState.HELD), (MsgType.ESTOP, DeviceState.ESTOP)):
        refused = await _fire_with(bench, stop, after)
        seen.append(f"{stop.name}: FIRE {refused}")
        if stop is MsgType.HOLD:
            await bench.ok(MsgType.DISARM)
    await bench.ok(MsgType.ACK_ALARM, AckAlarm(ALARMS["emergency_stop"].code))
    status = await bench.until_state(DeviceState.LOCKED, DeviceState.IDLE)
    expect(status.state == DeviceState.LOCKED and not status.flags & StatusFlags.HOMED,
           "acknowledging emergency_stop left the gun "
           f"{DeviceState(status.state).name}, not LOCKED until homed again", status.state)
    return (f"written after FIRE in one write, each stop went first ({'; '.join(seen)}); no "
            "shot; emergency_stop acknowledged leaves the gun LOCKED")


async def _fire_with(bench: Bench, stop: MsgType, after: DeviceState) -> str:
    link = bench.link
    before = (await bench.armed()).shots_done
    mark = len(link.events)
    fire_seq, stop_seq = link.next_seq(), link.next_seq()
    fired, stopped = link.expect(fire_seq), link.expect(stop_seq)
    link.write(encode_frame(Frame(MsgType.FIRE, fire_seq, Fire(1).pack()))
               + encode_frame(Frame(stop, stop_seq)))
    stop_answer = await link.answer(stopped, stop.name)
    fire_answer = await link.answer(fired, "FIRE")
    expect(stop_answer.type == MsgType.OK, f"{stop.name} refused: {said(stop_answer)}",
           stop_answer)
    expect(fire_answer.type == MsgType.ERROR,
           f"FIRE ran before the {stop.name} written after it in the same write", fire_answer)
    status = await bench.status()
    shots = [e for e in link.events[mark:] if e.type == MsgType.EV_SHOT]
    expect(status.shots_done == before and not shots,
           f"a shot started although {stop.name} came first: shots_done {status.shots_done}, "
           f"was {before}", status.shots_done)
    expect(status.state == after, f"after {stop.name} the gun is "
           f"{DeviceState(status.state).name}, not {after.name}", status.state)
    return f"refused {describe_error(fire_answer).split(' ')[0]}"


# ---- watchdog ----------------------------------------------------------------------------

async def watchdog(bench: Bench, tolerance_ms: int) -> str:
    link, config = bench.link, bench.config
    code, timeout = ALARMS["watchdog"].code, config.watchdog_ms
    await bench.homed_idle()
    await bench.ok(MsgType.LOAD_PROGRAM, minimal_shot(config))
    await bench.silence()
    mark = len(link.events)
    try:
        await bench.ok(MsgType.ARM)                  # the last frame the gun hears
        await link.wait_for(lambda: alarm_in(link.events[mark:], code) is not None,
                            2 * timeout / 1000 + tolerance_ms / 1000 + 1.0,
                            f"alarm watchdog after silence in ARMED ({timeout} ms configured)")
    finally:
        bench.keep_alive()
    armed = state_change_in(link.events[mark:], DeviceState.ARMED)
    alarm = alarm_in(link.events[mark:], code)
    expect(armed is not None, "ARM sent no EV_STATE to ARMED", None)
    waited = (alarm.time_ms - armed.time_ms) & 0xFFFF_FFFF
    expect(timeout - 1 <= waited <= timeout + tolerance_ms,
           f"the watchdog tripped {waited} ms after the last frame (by the gun's clock), "
           f"configured {timeout} ms (tolerance +{tolerance_ms} ms)", waited)
    expect(alarm.value == timeout, f"alarm watchdog's value is {alarm.value}, not the "
           f"timeout {timeout}", alarm.value)
    status = await bench.status()
    expect(status.state == DeviceState.FAULT and code in latched_codes(status.latched_alarms),
           f"after the watchdog the gun is {DeviceState(status.state).name} with "
           f"{[alarm_name(c) for c in latched_codes(status.latched_alarms)]} latched, not "
           "FAULT with watchdog", status.state)
    await bench.ok(MsgType.ACK_ALARM, AckAlarm(code))
    status = await bench.until_state(DeviceState.IDLE, DeviceState.LOCKED)
    expect(status.state == DeviceState.IDLE, "acknowledging watchdog left the gun "
           f"{DeviceState(status.state).name}, not IDLE (it does not lose the position)",
           status.state)
    return (f"silence in ARMED tripped the watchdog {waited} ms after the last frame "
            f"(configured {timeout} ms), FAULT; acknowledged to IDLE")
