"""What every check uses: the Check itself, the verdict, and finding events among those the
gun sent. Answers come back in the order the gun received the frames, so "no answer to the
damaged frame" is settled by the answer to the good frame written after it, without waiting
on a clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from drivers.framing import Frame, encode_frame
from drivers.messages import AlarmRaised, DeviceState, MsgType, StateChanged
from injector.conformance.bench import Bench, describe_error
from injector.conformance.errors import CheckFailed
from injector.conformance.link import Event


@dataclass(frozen=True)
class Check:
    name: str
    proves: str
    section: str
    """The heading of docs/protocol.md that makes the promise."""
    moves: bool
    """Homes the gun or fires the test shot."""
    run: Callable[[Bench], Awaitable[str]]


def expect(condition: bool, reason: str, value: object = None) -> None:
    """The promise holds, or CheckFailed with the line that says how it broke."""
    if not condition:
        raise CheckFailed(reason, value)


async def round_trip(bench: Bench, after: str) -> Frame:
    """A HEARTBEAT the gun must answer: it is still alive and in step after `after`."""
    try:
        return await bench.link.request(MsgType.HEARTBEAT)
    except CheckFailed as failed:
        raise CheckFailed(f"after {after} the gun answers nothing ({failed})") from None


def unanswered(bench: Bench, seq: int, what: str) -> None:
    answers = bench.link.answered(seq)
    expect(not answers, f"the gun answered {what} (seq {seq}): it must drop it silently",
           answers)


def bad_cobs(msg_type: MsgType, seq: int) -> bytes:
    """A frame whose first COBS code byte points past its end."""
    stuffed = bytearray(encode_frame(Frame(msg_type, seq)))
    stuffed[0] = len(stuffed) + 8
    return bytes(stuffed)


def alarm_in(events: list[Event], code: int) -> AlarmRaised | None:
    for event in events:
        if event.type == MsgType.EV_ALARM:
            alarm = AlarmRaised.unpack(event.payload)
            if alarm.code == code:
                return alarm
    return None


def state_change_in(events: list[Event], state: DeviceState) -> StateChanged | None:
    for event in events:
        if event.type == MsgType.EV_STATE:
            change = StateChanged.unpack(event.payload)
            if change.state == state:
                return change
    return None


def said(frame: Frame) -> str:
    return "OK" if frame.type == MsgType.OK else describe_error(frame)
