"""Event numbers count up by one per event and wrap at 65536: the one place their window
arithmetic lives, for both bridges and the firmware."""

from __future__ import annotations

SEQ_MODULO = 0x1_0000
HALF = 0x8000


def seq_next(seq: int) -> int:
    return (seq + 1) % SEQ_MODULO


def seq_distance(later: int, earlier: int) -> int:
    """How many numbers `later` is past `earlier`: 0 to 32767 when it is at or after it;
    negative (-32768 to -1) when it is before it (already seen, or a number from the past)."""
    distance = (later - earlier) % SEQ_MODULO
    return distance - SEQ_MODULO if distance >= HALF else distance


def seq_at_or_after(seq: int, reference: int) -> bool:
    return seq_distance(seq, reference) >= 0
