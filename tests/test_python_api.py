"""docs/python-api.md: its example, run as written against a simulated gun."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


async def test_the_documented_example_treats_a_simulated_gun_and_streams_its_events(tmp_path):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    seen = await namespace["treat"]("sim://", str(tmp_path / "record.db"))
    assert seen.count("shot") == 20 and seen[-1] == "end"
    assert seen[0] == "state" and "end" not in seen[:-1]


async def test_a_reader_that_falls_behind_is_dropped_and_told():
    from datetime import datetime, timezone

    import pytest

    from injector.events import EventStreamOverflow, HoldEvent, Publisher

    publisher = Publisher()
    stream = publisher.stream(most=2)
    other = []
    publisher.add(other.append)
    for n in range(3):
        publisher.publish(HoldEvent(session_id=1, loop_s=float(n),
                                    at=datetime.now(timezone.utc), reason="test"))
    assert len(other) == 3                      # the others still hear every event
    assert [e.loop_s async for e in _until_overflow(stream)] == [0.0, 1.0]
    with pytest.raises(EventStreamOverflow):
        await stream.__anext__()


async def _until_overflow(stream):
    from injector.events import EventStreamOverflow
    while True:
        try:
            yield await stream.__anext__()
        except EventStreamOverflow:
            return
