"""A calibration certificate, the document a clinic files: the gun, the technician, the
instruments and their due dates, the conditions, the gun as found and as left, the limits,
the verdict and the next due date.

As found: the gun's last verification before the calibration was made. As left: its first
verification after, with this calibration in force. A calibration with no verification
after it is certified as "not verified", never as passed.

The content is built from the record alone (`certificate_data`, also the `--json` output);
`write_pdf` lays it out with fpdf2, a small pure-Python PDF library that needs no system
fonts or renderer on the device.
"""

from __future__ import annotations

from pathlib import Path

from injector.errors import InjectorError
from injector.metrology import Limits
from injector.store import Store

ISO_NOTE = ("Limits: systematic error within +-2% or +-0.5 ul, whichever is larger, and "
            "random error (standard deviation) within 1% or 0.15 ul; depth within +-0.05 mm "
            "and 0.03 mm. ISO 8655-2 allows a 10 ul piston pipette +-1.2% and 0.8%, a 100 ul "
            "one +-0.8% and 0.3%; ISO 11608-1 judges pen-injector doses the same two ways. "
            "Gravimetry after ISO 8655-6: water density from its temperature, air buoyancy "
            "through the Z-factor.")


class CertificateError(InjectorError):
    def __init__(self, calibration_id: int, reason: str) -> None:
        self.calibration_id = calibration_id
        super().__init__(f"calibration {calibration_id}: {reason}")


def _verification_in_force(verification: dict, calibration_id: int, kind: str) -> bool:
    entry = verification["calibrations"].get(kind) or {}
    return entry.get("record_id") == calibration_id


def certificate_data(store: Store, calibration_id: int) -> dict:
    calibration = store.calibration(calibration_id)
    serial = calibration["device_serial"]
    kind = calibration["kind"]
    device = next((d for d in store.devices() if d["serial_number"] == serial), None)
    verifications = sorted(store.verifications(serial), key=lambda v: v["id"])
    made = calibration["created_at"]
    before = [v for v in verifications if v["created_at"] < made]
    after = [v for v in verifications if v["created_at"] > made
             and _verification_in_force(v, calibration_id, kind)]
    as_found, as_left = (before[-1] if before else None), (after[0] if after else None)

    def points(verification: dict | None) -> list[dict] | None:
        if verification is None:
            return None
        return [p for p in verification["points"] if p["kind"] == kind]

    left_points = points(as_left)
    verdict = ("NOT VERIFIED" if not left_points
               else "PASS" if all(p["pass"] for p in left_points) else "FAIL")
    limits = [{"set": p["set"], **Limits.dose(p["set"]).__dict__} if kind == "dose"
              else {"set": p["set"], **Limits.depth(p["set"]).__dict__}
              for p in (left_points or [])]
    return {
        "certificate": f"CAL-{calibration_id:06d}",
        "calibration_id": calibration_id, "kind": kind, "status": calibration["status"],
        "gun": {"serial_number": serial, "model": device["model"] if device else None,
                "firmware": device["firmware"] if device else None},
        "technician": calibration["person"], "made_at": made,
        "fit": {k: v for k, v in calibration["fit"].items() if k != "table"},
        "instruments": calibration["instruments"], "conditions": calibration["conditions"],
        "replicates": calibration["replicates"],
        "as_found": {"verification_id": as_found["id"], "at": as_found["created_at"],
                     "points": points(as_found)} if as_found else None,
        "as_left": {"verification_id": as_left["id"], "at": as_left["created_at"],
                    "points": left_points} if as_left else None,
        "limits": limits, "limits_note": ISO_NOTE, "verdict": verdict,
        "next_due": {"date": calibration["expires_at"],
                     "shots": calibration["expires_after_shots"]},
    }


def write_pdf(data: dict, path: Path) -> Path:
    from fpdf import FPDF

    unit = "ul" if data["kind"] == "dose" else "mm"
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, f"Calibration certificate {data['certificate']}",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)

    def line(label: str, text: str) -> None:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(45, 6, label)
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(0, 6, _latin(text), new_x="LMARGIN", new_y="NEXT")

    gun = data["gun"]
    line("Gun", f"{gun['model'] or '-'}, serial {gun['serial_number']}, firmware "
                f"{gun['firmware'] or '-'}")
    line("Calibration", f"{data['kind']}, calibration {data['calibration_id']} "
                        f"({data['status']}), made {data['made_at'][:19]} UTC")
    line("Technician", data["technician"])
    fit = data["fit"]
    line("Fit", (f"delivered = {fit['gain']:.5f} x commanded {fit['offset']:+.4f} {unit}"
                 if fit.get("kind") == "linear" else "straight pieces through the points")
         + f"; largest residual {fit.get('max_residual', 0):.4f} {unit}")
    for instrument in data["instruments"] or [{"kind": "-", "serial_number": "none recorded",
                                               "due": None, "name": ""}]:
        line(f"Instrument: {instrument['kind']}",
             f"serial {instrument['serial_number']} ({instrument['name']}); own calibration "
             f"due {instrument['due'] or 'not applicable (simulated)'}")
    conditions = data["conditions"]
    if conditions:
        line("Conditions", f"{conditions['temperature_c']:g} C ({conditions['temperature_source']}),"
                           f" {conditions['liquid']}, density {conditions['density_g_ml']:.5f}"
                           f" g/ml, Z {conditions['z_ul_per_mg']:.4f} ul/mg")
    line("Replicates", f"{data['replicates']} per set value")
    for title, section in (("As found", data["as_found"]), ("As left", data["as_left"])):
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 12)
        pdf.cell(0, 8, title + (f" (verification {section['verification_id']}, "
                                f"{section['at'][:19]} UTC)" if section else
                                ": no verification recorded"), new_x="LMARGIN", new_y="NEXT")
        if section and section["points"]:
            _table(pdf, unit, section["points"])
    pdf.ln(2)
    pdf.set_font("Helvetica", size=9)
    pdf.multi_cell(0, 5, _latin(data["limits_note"]), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 10, f"Verdict: {data['verdict']}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    due = data["next_due"]
    line("Next due", f"{(due['date'] or '-')[:10]} or after {due['shots']} shots, "
                     "whichever comes first")
    pdf.ln(10)
    line("Signed", "______________________   (technician)      "
                   "______________________   (reviewed)")
    pdf.output(str(path))
    return path


def _table(pdf, unit: str, points: list[dict]) -> None:
    headers = [f"set {unit}", "n", "mean", "error", "limit", "sd", "limit", "result"]
    widths = [22, 10, 24, 24, 22, 22, 22, 20]
    pdf.set_font("Helvetica", "B", 9)
    for header, width in zip(headers, widths):
        pdf.cell(width, 6, header, border=1, align="C")
    pdf.ln()
    pdf.set_font("Helvetica", size=9)
    for p in points:
        cells = [f"{p['set']:g}", str(p["n"]), f"{p['mean']:.3f}", f"{p['error']:+.3f}",
                 f"+-{p['systematic_limit']:.3f}", f"{p['sd']:.3f}", f"{p['random_limit']:.3f}",
                 "pass" if p["pass"] else "FAIL"]
        for cell, width in zip(cells, widths):
            pdf.cell(width, 6, cell, border=1, align="C")
        pdf.ln()


def _latin(text: str) -> str:
    """The built-in PDF fonts are Latin-1: other characters (a technician's name in another
    script) are shown as their escapes rather than breaking the document."""
    return text.encode("latin-1", "backslashreplace").decode("latin-1")
