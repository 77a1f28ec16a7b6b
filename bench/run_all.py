"""`make bench`: every benchmark, one table, and bench/out/results.json (a flat object).

Run: python bench/run_all.py
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import device_bench  # noqa: E402
import modbus_bench  # noqa: E402
import plan_bench  # noqa: E402
import record_bench  # noqa: E402
import serial_bench  # noqa: E402
import service_bench  # noqa: E402

TARGETS = {
    "planner_points_per_s": (">=", 1_000_000),
    "shots_per_s_nappage_superficial": (">=", 15.0),
    "virtual_time_speedup": (">=", 1000.0),         # issue 20: CI's own sessions
    "heartbeat_locked_p99_ms": ("<", 5.0),
    "heartbeat_locked_watchdog_trips": ("<", 1),
    "service_push_p99_ms": ("<", 50.0),
    "service_shot_events_missed": ("<", 1),
    "service_clients_dropped": ("<", 1),
    "service_session_completed": (">=", 1),
}

TABLE = [
    ("planner_points_per_s", "planner throughput", "points/s"),
    ("serial_rtt_p50_ms", "serial (pty) round trip, median", "ms"),
    ("serial_rtt_p99_ms", "serial (pty) round trip, p99", "ms"),
    ("modbus_tcp_rtt_p50_ms", "Modbus TCP round trip, median", "ms"),
    ("modbus_tcp_rtt_p99_ms", "Modbus TCP round trip, p99", "ms"),
    ("modbus_rtu_rtt_p50_ms", "Modbus RTU (pty) round trip, median", "ms"),
    ("modbus_rtu_rtt_p99_ms", "Modbus RTU (pty) round trip, p99", "ms"),
    ("shots_per_s_nappage_superficial", "nappage superficial, sustained", "shots/s"),
    ("shots_per_s_nappage_middle", "nappage middle, sustained", "shots/s"),
    ("shots_per_s_nappage_deep", "nappage deep, sustained", "shots/s"),
    ("estop_latency_ms", "emergency stop, call to plunger stopped", "ms"),
    ("watchdog_trip_ms", "watchdog, last frame to trip", "ms"),
    ("virtual_time_speedup", "10,000-shot session, virtual/real time", "x"),
    ("virtual_time_speedup_gun_and_driver", "the gun and driver alone, virtual/real", "x"),
    ("session_peak_rss_mb", "peak memory of that session", "MB"),
    ("heartbeat_free_p99_ms", "heartbeat lateness p99, record free", "ms"),
    ("heartbeat_locked_p99_ms", "heartbeat lateness p99, record locked 1 s", "ms"),
    ("heartbeat_locked_watchdog_trips", "watchdog trips, record locked 1 s", "trips"),
    ("service_push_p50_ms", "WebSocket push to 50 clients, median", "ms"),
    ("service_push_p99_ms", "WebSocket push to 50 clients, p99", "ms"),
    ("service_shot_events_missed", "shot events missed by those clients", "events"),
    ("service_clients_dropped", "clients dropped by the service", "clients"),
    ("service_session_completed", "the watched session completed", "yes=1"),
]


def main() -> dict:
    results: dict = {"machine": f"{platform.machine()}, Python {platform.python_version()}, "
                                f"{platform.system()} {platform.release()}"}
    for module in (plan_bench, serial_bench, modbus_bench, device_bench, record_bench,
                   service_bench):
        print(f"== {module.__name__}")
        results |= module.main()
    print()
    print(f"{'figure':44} {'value':>14}  unit      target")
    for key, label, unit in TABLE:
        target = TARGETS.get(key)
        verdict = ""
        if target:
            met = (results[key] >= target[1] if target[0] == ">="
                   else results[key] < target[1])
            verdict = f"{target[0]} {target[1]:g}: {'met' if met else 'NOT MET'}"
        print(f"{label:44} {results[key]:>14,.2f}  {unit:8}  {verdict}")
    out = HERE / "out"
    out.mkdir(exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwritten: {out / 'results.json'}")
    return results


if __name__ == "__main__":
    main()
