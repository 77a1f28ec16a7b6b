"""PNG pictures of a plan. matplotlib is imported here only, so the rest stays light."""

from __future__ import annotations

from pathlib import Path

from injector.planner import Plan
from injector.timeline import timeline


def plot_plan(plan: Plan, path: Path, shots: int = 5) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    line = timeline(plan, shots=shots)
    fig, (ax_time, ax_grid) = plt.subplots(1, 2, figsize=(12, 4.5),
                                           gridspec_kw={"width_ratios": [2, 1]})
    ax_time.plot(line.time_s * 1000.0, line.depth_mm, color="tab:red", label="needle depth")
    ax_time.set_xlabel("time (ms)")
    ax_time.set_ylabel("needle depth (mm)", color="tab:red")
    ax_time.invert_yaxis()
    ax_volume = ax_time.twinx()
    ax_volume.plot(line.time_s * 1000.0, line.volume_ul, color="tab:blue", label="dispensed")
    ax_volume.set_ylabel("dispensed volume (ul)", color="tab:blue")
    ax_time.set_title(f"{plan.preset.name}: first {min(shots, plan.shots)} shots "
                      f"at {plan.setting.shot_rate_hz:g} Hz")
    ax_grid.scatter(plan.grid.x_mm, plan.grid.y_mm, s=max(0.5, 2000.0 / plan.shots), color="k")
    ax_grid.plot(plan.grid.x_mm[:shots], plan.grid.y_mm[:shots], color="tab:red", linewidth=1)
    ax_grid.set_aspect("equal")
    ax_grid.set_xlabel("x (mm)")
    ax_grid.set_ylabel("y (mm)")
    ax_grid.set_title(f"{plan.shots} points at {plan.setting.spacing_mm:g} mm on {plan.zone.name}")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
