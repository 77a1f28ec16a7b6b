"""Planner throughput: grid points per second for a large body area.

Run: python bench/plan_bench.py   (target: at least 1,000,000 points per second)
"""

from __future__ import annotations

import platform
import time

from injector.planner import plan
from profiles import load_catalog

AREA_CM2 = 9_000.0      # about the front of both thighs and the abdomen together
REPEATS = 20


def plan_once(catalog):
    result = plan(catalog.preset("nappage-superficial"), catalog.zone("thighs"),
                  catalog.needle("30G-4mm"), catalog.syringe(10), area_cm2=AREA_CM2)
    # Touch every per-point array a session or a plot would read.
    arrays = (result.grid.x_mm, result.grid.y_mm, result.shot_start_s, result.fill_index)
    return result, sum(a.size for a in arrays)


def main() -> dict:
    catalog = load_catalog()
    result, _ = plan_once(catalog)
    timings = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        plan_once(catalog)
        timings.append(time.perf_counter() - start)
    best = min(timings)
    median = sorted(timings)[len(timings) // 2]
    points_per_s = result.shots / median
    print(f"planner: {result.shots} points over {AREA_CM2:g} cm2 at "
          f"{result.setting.spacing_mm:g} mm ({platform.python_version()}, "
          f"{platform.machine()})")
    print(f"  median {median * 1000:.2f} ms, best {best * 1000:.2f} ms per plan "
          f"({REPEATS} runs)")
    print(f"  {points_per_s:,.0f} points/s (target 1,000,000): "
          f"{'met' if points_per_s >= 1_000_000 else 'NOT MET'}")
    return {"planner_points_per_s": points_per_s}


if __name__ == "__main__":
    main()
