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
    """A file cannot be written where asked; said before anything runs."""

    def __init__(self, path: object, reason: str, what: str = "plot") -> None:
        self.path = path
        super().__init__(f"{what} {shown(str(path), 200)}: {reason}")


def check_output_path(path: str | Path, suffixes: tuple[str, ...] = PICTURE_SUFFIXES,
                      what: str = "plot") -> Path:
    """The path, when a file can be written there: a known type, in a folder that exists
    and is writable, not over something that is not a file."""
    wanted = "give a file name ending in " + ", ".join(suffixes)
    if not isinstance(path, (str, Path)) or not str(path):
        raise PlotPathError(path, wanted, what)
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        raise PlotPathError(path, wanted, what)
    folder = path.parent
    if not folder.is_dir():
        raise PlotPathError(path, "its folder does not exist", what)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PlotPathError(path, "its folder cannot be written", what)
    if path.exists() and not path.is_file() or path.is_symlink():
        raise PlotPathError(path, "is there and is not a regular file; give a new name", what)
    return path


def check_plot_path(path: str | Path) -> Path:
    return check_output_path(path)


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


def plot_verification(points: list[dict], path: Path) -> Path:
    """Each set value's error (mean, and every replicate) against the set value, inside its
    systematic band: one panel for dose, one for depth. The band is drawn as the limit it
    is, so at 10 ul it is +-0.5 ul wide, not a sliver."""
    path = check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import numpy as np

    from injector.metrology import Limits

    kinds = [k for k in ("dose", "depth") if any(p["kind"] == k for p in points)]
    fig, axes = plt.subplots(1, max(1, len(kinds)), figsize=(6 * max(1, len(kinds)), 4.5),
                             squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        chosen = sorted((p for p in points if p["kind"] == kind), key=lambda p: p["set"])
        unit = chosen[0]["unit"]
        sets = [p["set"] for p in chosen]
        span = np.linspace(min(sets) * 0.9, max(sets) * 1.05, 200)
        band = np.array([(Limits.dose(v) if kind == "dose" else Limits.depth(v)).systematic
                         for v in span])
        ax.fill_between(span, -band, band, color="tab:green", alpha=0.2,
                        label="systematic limit")
        ax.axhline(0.0, color="tab:green", linewidth=1)
        for p in chosen:
            ax.scatter([p["set"]] * len(p["readings"]),
                       [r - p["set"] for r in p["readings"]], s=10, color="grey", zorder=2)
            ax.errorbar([p["set"]], [p["error"]], yerr=[p["sd"]], fmt="o", capsize=4,
                        color="tab:green" if p["pass"] else "tab:red", zorder=3)
        ax.set_xlabel(f"set {'volume' if kind == 'dose' else 'depth'} ({unit})")
        ax.set_ylabel(f"error ({unit}): mean +- sd, and each replicate")
        verdict = "PASS" if all(p["pass"] for p in chosen) else "FAIL"
        ax.set_title(f"{kind} verification: {verdict}")
        ax.legend(loc="upper left")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def plot_calibration(result: dict, path: Path) -> Path:
    """A calibration's measured points against the commanded value, with its fit."""
    path = check_plot_path(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    unit = "ul" if result["kind"] == "dose" else "mm"
    fit = result["fit"]
    commanded = np.array([p["commanded"] for p in result["points"]])
    fig, ax = plt.subplots(figsize=(7, 5))
    for p in result["points"]:
        ax.scatter([p["commanded"]] * len(p["readings"]), p["readings"], s=10, color="grey")
    ax.scatter(commanded, [p["mean"] for p in result["points"]], color="tab:blue", zorder=3,
               label="measured (mean)")
    line = np.linspace(0, commanded.max() * 1.05, 200)
    if fit["kind"] == "linear":
        ax.plot(line, fit["gain"] * line + fit["offset"], color="tab:blue", linestyle="--",
                label=f"fit: {fit['gain']:.4f} x commanded {fit['offset']:+.3f} {unit}")
    else:
        ax.plot(fit["commanded"], fit["delivered"], color="tab:blue", linestyle="--",
                label="fit: straight pieces through the points")
    ax.plot(line, line, color="tab:green", linewidth=1, label="ideal")
    ax.set_xlabel(f"commanded ({unit})")
    ax.set_ylabel(f"{'delivered' if unit == 'ul' else 'reached'} ({unit})")
    ax.set_title(f"{result['kind']} calibration {result['calibration_id']}")
    ax.legend(loc="upper left")
    fig.tight_layout()
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
