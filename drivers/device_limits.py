"""What the firmware holds and checks on receipt, in device units (docs/protocol.md,
"Sequence numbers and exactly-once", "Limits the firmware checks on receipt").

One definition for the simulated firmware that enforces these numbers, the conformance suite
that holds a gun to them and the C header a firmware team builds from.
"""

from __future__ import annotations

REPLY_CACHE = 64
"""Replies kept per connection: a command retransmitted within 64 others is answered from
the cache, never executed twice."""
EVENT_RING = 256
"""Events the gun keeps for a GET_EVENTS replay."""

BAD_FRAMES_FOR_ALARM = 5
BAD_FRAME_WINDOW_MS = 1_000
"""This many invalid frames within the window latch the advisory alarm link_degraded."""

DEPTH_RANGE_UM = (200, 14_000)
VOLUME_RANGE_NL = (4_000, 132_000)
"""The mechanism's limits on a commanded shot (the 13 mm / 10-100 ul envelope widened by the
largest correction a stored calibration may apply). The clinical envelope in the
configuration is checked on top, on what the stored calibration says a shot delivers; the
depth is also held within the configured `depth_travel_um`."""
DWELL_MAX_MS = 60_000
FIRE_RANGE = (1, 1_000_000)
"""Shots in one FIRE."""
PRIME_RANGE_NL = (1, 1_000_000)
"""One PRIME's stroke."""
