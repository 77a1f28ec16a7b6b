"""`injector presets` and `injector plan`: what the gun knows and what a preset becomes."""

from __future__ import annotations

import argparse

from injector import documents, inputs
from injector.cli.common import (
    OptionRefused, add_catalog_options, add_value, catalog_from, format_table, plot_option,
    print_json, typed_path,
)
from drivers.values import ValueRefused
from injector.cli.treatment_options import (
    add_limit_override, add_setting_overrides, plan_path, save_plan, setting_overrides,
)
from injector.limits import Override, check_plan
from injector.plan_request import PlanRequest
from injector.planner import Plan
from profiles.library import load_library


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "presets", help="list the technique presets",
        description="List the technique presets with their depth, spacing, dose and zones.",
        epilog="example: injector presets --json", formatter_class=argparse.RawDescriptionHelpFormatter)
    add_catalog_options(p)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(handler=presets_command)

    p = subparsers.add_parser(
        "plan", help="compile a preset into a shot program and totals",
        description="Compile a preset for a zone and needle into the gun's shot program, with "
                    "shots, volume, time, the highest shot rate and syringe refills.",
        epilog="example: injector plan --preset nappage-superficial --zone face "
               "--needle 32G-4mm --area-cm2 100 --plot plan.png")
    add_catalog_options(p)
    p.add_argument("--preset", required=True)
    p.add_argument("--zone", required=True)
    p.add_argument("--needle", required=True, help="e.g. 32G-4mm")
    size = p.add_mutually_exclusive_group(required=True)
    add_value(size, "--area-cm2", inputs.AREA_CM2, "area to cover at the preset's spacing")
    add_value(size, "--shots", inputs.SHOTS, "number of injection points")
    add_value(p, "--syringe-ml", inputs.SYRINGE_ML, "syringe size", default=10.0)
    add_value(p, "--dead-volume-ul", inputs.DEAD_VOLUME_UL,
              "override the syringe's dead volume")
    add_setting_overrides(p)
    add_limit_override(p, None)
    p.add_argument("--save", type=typed_path(plan_path, "--save"), metavar="FILE.json",
                   help="save the plan for `injector run --plan FILE.json`")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--plot", type=plot_option, metavar="FILE.png",
                   help="write the depth/volume timeline of the first shots and the grid")
    p.set_defaults(handler=plan_command)


def presets_command(args: argparse.Namespace) -> int:
    presets = sorted(catalog_from(args).presets.values(), key=lambda p: p.name)
    if args.json:
        print_json(documents.presets([documents.preset(p) for p in presets]))
        return 0
    # Every cell is a catalog name or a number (profiles.names), so no cell can split or
    # repaint the table; "origin" tells a technician's own presets from the shipped library.
    rows = [[p.name, p.technique, f"{p.depth_mm:g}", f"{p.spacing_mm:g}", f"{p.dose_ul:g}",
             f"{p.angle_deg:g}", f"{p.shot_rate_hz:g}", "built-in" if p.builtin else "custom",
             ", ".join(p.zones)] for p in presets]
    print(format_table(["preset", "technique", "depth mm", "spacing mm", "dose ul", "angle",
                        "rate Hz", "origin", "zones"], rows))
    return 0


def build_plan(args: argparse.Namespace) -> Plan:
    return PlanRequest(args.preset, args.zone, args.needle, shots=args.shots,
                       area_cm2=args.area_cm2, syringe_ml=args.syringe_ml,
                       dead_volume_ul=args.dead_volume_ul,
                       overrides=setting_overrides(args)).build(catalog_from(args))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    if hours:
        return f"{hours} h {minutes} min {secs:.0f} s"
    return f"{minutes} min {secs:.1f} s" if minutes else f"{secs:.2f} s"


def plan_text(result: Plan) -> str:
    s, t, pr = result.setting, result.phases, result.program
    grid = result.grid
    rows = -(-result.shots // grid.columns)
    loss = result.preset.drug_loss_fraction
    drug = result.drug
    lines = [
        f"{result.preset.name} on {result.zone.name} with {result.needle.name}, "
        f"{result.syringe.capacity_ml:g} ml syringe (dead volume {result.syringe.dead_volume_ul:g} ul)",
        f"  depth {s.depth_mm:g} mm, dose {s.dose_ul:g} ul, spacing {s.spacing_mm:g} mm, "
        f"angle {result.preset.angle_deg:g} deg, delivery {s.delivery.value}",
        f"  shots       {result.shots} ({grid.columns} x {rows} grid)",
        f"  volume      {result.requested_ul / 1000:.3f} ml requested"
        + (f" (to the skin, estimated: {result.to_skin_estimate_ul / 1000:.3f} ml; "
           f"up to {loss:.0%} is lost)" if loss else ""),
        f"  time        {_duration(result.duration_s)} at {s.shot_rate_hz:g} Hz "
        f"(period {pr.shot_period_ms} ms)",
        f"  max rate    {result.max_rate_hz:.2f} Hz (cycle {t.cycle_s * 1000:.1f} ms: insert "
        f"{t.insert_s * 1000:.1f}, dispense {t.dispense_s * 1000:.1f}, dwell "
        f"{t.dwell_s * 1000:.1f}, retract {t.retract_s * 1000:.1f} ms)",
        f"  syringe     {result.refills} refill{'s' if result.refills != 1 else ''} "
        f"({result.shots_per_fill} shots per fill: {drug.capacity_nl / 1000:g} ul less "
        f"{drug.dead_volume_nl / 1000:g} dead, {drug.prime_draw_nl / 1000:g} prime, "
        f"{drug.reserve_nl / 1000:g} reserve)",
        f"  program     depth {pr.depth_um} um, volume {pr.volume_nl} nl at "
        f"{pr.dispense_rate_nl_s} nl/s, insert {pr.insert_speed_um_s} um/s, "
        f"dwell {pr.dwell_ms} ms",
    ]
    return "\n".join(lines)


def plan_command(args: argparse.Namespace) -> int:
    result = build_plan(args)
    library = load_library()
    if args.override and not args.person:
        raise OptionRefused(ValueRefused("--person", None, "an override needs the person who "
                                         "takes it; give --person NAME", "a name"))
    crossings = check_plan(library, result,
                           Override(args.override, args.person) if args.override else None)
    if args.save:
        save_plan(args.save, result, library, {
            "preset": result.preset.name, "zone": result.zone.name,
            "needle": result.needle.name, "shots": result.shots,
            "syringe_ml": result.syringe.capacity_ml,
            "overrides": {k: v for k, v in vars(setting_overrides(args)).items()
                          if v is not None},
            "override_reason": args.override, "person": args.person})
    if args.plot:
        from injector.plots import plot_plan
        plot_plan(result, args.plot)
    extra = {"library": library.stamp(), "soft_limits_passed": [c.describe() for c in crossings]}
    if args.json:
        print_json(documents.plan(result, args.plot, extra | (
            {"saved": str(args.save)} if args.save else {})))
    else:
        print(plan_text(result))
        print(f"  library     {library.version} ({library.hash})")
        for crossing in crossings:
            print(f"  OVERRIDE    {crossing.sentence()} (by {args.person}: {args.override})")
        if args.plot:
            print(f"  plot        {args.plot}")
        if args.save:
            print(f"  saved       {args.save} (injector run --plan {args.save} --port URL)")
    return 0
