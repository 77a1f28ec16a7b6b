"""PNG pictures of a plan. matplotlib is imported here only, so the rest stays light."""

from __future__ import annotations

import os
from pathlib import Path

from drivers.values import shown
from injector.errors import InjectorError
from injector.planner import Plan
from injector.timeline import timeline


PICTURE_SUFFIXES = (".png", ".svg", ".pdf")


class PlotPathError(InjectorError):
    """A picture cannot be written where asked; said before anything runs."""

    def __init__(self, path: object, reason: str) -> None:
        self.path = path
        super().__init__(f"plot {shown(str(path))}: {reason}")


def check_plot_path(path: str | Path) -> Path:
    """The path, when a picture can be written there: a known picture type, in a folder that
    exists and is writable, not over something that is not a file."""
    if not isinstance(path, (str, Path)) or not str(path):
        raise PlotPathError(path, "give a file name ending in .png, .svg or .pdf")
    path = Path(path)
    if path.suffix.lower() not in PICTURE_SUFFIXES:
        raise PlotPathError(path, "give a file name ending in " + ", ".join(PICTURE_SUFFIXES))
    folder = path.parent
    if not folder.is_dir():
        raise PlotPathError(path, f"the folder {shown(str(folder))} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PlotPathError(path, f"the folder {shown(str(folder))} cannot be written")
    if path.exists() and not path.is_file() or path.is_symlink():
        raise PlotPathError(path, "is there and is not a regular file; give a new name")
    return path


def _save(fig, path: Path) -> None:
    """Writes the picture; a folder that refuses it (full, read-only) is said in one line."""
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise PlotPathError(path, f"cannot be written ({exc.strerror or exc})") from None


def plot_plan(plan: Plan, path: Path, shots: int = 5) -> Path:
    path = check_plot_path(path)
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
    _save(fig, path)
    plt.close(fig)
    return path


def plot_verification(result: dict, path: Path) -> Path:
    """Commanded against delivered for each test volume, the fit line, the tolerance band."""
    path = check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    dose = [p for p in result["points"] if p["kind"] == "dose"]
    fig, ax = plt.subplots(figsize=(7, 5))
    if dose:
        sets = np.array([p["set_ul"] for p in dose])
        line = np.linspace(0, sets.max() * 1.05, 200)
        band = np.maximum(0.02 * line, 0.5)
        ax.fill_between(line, line - band, line + band, color="tab:green", alpha=0.2,
                        label="tolerance (+-2% or +-0.5 ul)")
        ax.plot(line, line, color="tab:green", linewidth=1, label="ideal")
        commanded = np.array([p["commanded_ul"] for p in dose])
        delivered = np.array([p["mean_ul"] for p in dose])
        gain, offset = np.polyfit(commanded, delivered, 1)
        ax.plot(line, gain * line + offset, color="tab:blue", linewidth=1, linestyle="--",
                label=f"fit: delivered = {gain:.4f} x commanded {offset:+.3f}")
        colours = ["tab:green" if p["pass"] else "tab:red" for p in dose]
        ax.scatter(commanded, delivered, c=colours, zorder=3, label="measured (mean)")
    ax.set_xlabel("commanded volume (ul)")
    ax.set_ylabel("delivered volume (ul)")
    ax.set_title(f"dose verification: {'PASS' if result['pass'] else 'FAIL'}")
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = Path(path)
    _save(fig, path)
    plt.close(fig)
    return path


def plot_session(session: dict, shots: list[dict], alarms: list[dict], path: Path) -> Path:
    """Needle depth reached, and volume requested and delivered, over the session's device
    time, alarms marked where they were raised."""
    path = check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax_depth, ax_volume) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    if shots:
        t = np.array([s["device_time_ms"] for s in shots]) / 1000.0
        t = t - t[0]
        depth = np.array([s["depth_um"] for s in shots]) / 1000.0
        delivered = np.cumsum([s["delivered_nl"] for s in shots]) / 1000.0
        requested = np.arange(1, len(shots) + 1) * session["dose_ul"]
        interrupted = np.array([bool(s["interrupted"]) for s in shots])
        ax_depth.vlines(t, 0, depth, color="tab:red", linewidth=0.8)
        ax_depth.plot(t[interrupted], depth[interrupted], "x", color="k",
                      label="interrupted shot")
        ax_volume.step(t, requested, where="post", color="tab:gray", linestyle=":",
                       label="requested")
        ax_volume.step(t, delivered, where="post", color="tab:blue", label="delivered")
        ax_volume.legend(loc="upper left")
        start_ms = shots[0]["device_time_ms"]
        for alarm in alarms:
            at = (alarm["device_time_ms"] - start_ms) / 1000.0
            for ax in (ax_depth, ax_volume):
                ax.axvline(at, color="tab:orange", linestyle="--")
            ax_depth.annotate(f"alarm {alarm['name']}", (at, depth.max()), color="tab:orange",
                              rotation=90, va="top", ha="right")
        if interrupted.any():
            ax_depth.legend(loc="lower right")
    ax_depth.invert_yaxis()
    ax_depth.set_ylabel("needle depth reached (mm)")
    ax_volume.set_ylabel("volume (ul)")
    ax_volume.set_xlabel("time since the first shot (s)")
    ax_depth.set_title(f"session {session['id']}: {session['preset']} on {session['zone']}, "
                       f"{session['shots_done']} shots, {session['status']}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _save(fig, path)
    plt.close(fig)
    return path
