"""Calibration as a metrologist meets it: a simulated gun with random and systematic errors,
each refusal of the fit provoked through the gun, gravimetry with the water's density and
the air's buoyancy, instruments identified and due, every verification recorded, and the
certificate a clinic files."""

from __future__ import annotations

import json
import statistics
from datetime import date, datetime, timedelta, timezone

import pytest

from drivers.instruments import Balance, DepthGauge
from drivers.metrology import apparent_mass_mg, water_density_g_ml, z_factor_ul_per_mg
from injector.calibration import CalibrationError, calibrate, verify
from injector.certificate import certificate_data, write_pdf
from injector.controller import Controller
from injector.fleet import devices_due
from injector.metrology import Conditions, ConditionsError, Instrument, InstrumentOverdue
from injector.store import Store
from drivers.serial_link import serial_driver
from simulator.gun import GunOptions, SimulatedGun
from tests.conftest import run_cli
from tests.rig import CATALOG
from tests.schemas import validate


class Bench:
    """A simulated gun, its balance and gauge, and the technician's record."""

    def __init__(self, tmp_path, **options) -> None:
        self.gun = SimulatedGun(GunOptions(**options))
        self.store = Store(tmp_path / "record.db")
        self.balance = Balance(self.gun.balance().answer)
        self.gauge = DepthGauge(self.gun.gauge().answer)

    async def step(self, work, **kwargs):
        controller = Controller(serial_driver(self.gun.memory_port), self.store)
        try:
            return await work(controller, CATALOG, person="tech A. Novak", **kwargs)
        finally:
            await controller.close()

    async def close(self) -> None:
        await self.gun.aclose()
        self.store.close()


@pytest.fixture
async def make_bench(tmp_path):
    benches = []

    def make(**options) -> Bench:
        benches.append(Bench(tmp_path / str(len(benches)), **options))
        return benches[-1]
    for n in range(4):
        (tmp_path / str(n)).mkdir()
    yield make
    for bench in benches:
        await bench.close()


# ---- the simulated gun's imperfections ---------------------------------------------------

async def test_the_dose_scatters_with_its_cv_and_a_seed_repeats_it(make_bench):
    async def strokes(**options) -> list[float]:
        bench = make_bench(**options)
        result = await bench.step(verify, balance=bench.balance, gauge=None,
                                  volumes=(50.0,), shots_each=10)
        return result["points"][0]["readings"]

    scattered = await strokes(dose_cv=0.02, seed=7)
    cv = statistics.stdev(scattered) / statistics.fmean(scattered)
    assert 0.01 < cv < 0.035                              # 2% asked, ten shots
    assert await strokes(dose_cv=0.02, seed=7) == scattered
    assert await strokes(dose_cv=0.02, seed=8) != scattered


def test_the_seed_comes_from_the_serial_number_unless_given():
    assert GunOptions(serial_number="SIM-A").effective_seed != GunOptions(
        serial_number="SIM-B").effective_seed
    assert GunOptions(serial_number="SIM-A", seed=5).effective_seed == 5


async def test_a_curved_gun_gets_a_piecewise_fit(make_bench):
    bench = make_bench(volume_nonlinearity=0.08, dose_cv=0.0)
    result = await bench.step(calibrate, kind="dose", balance=bench.balance)
    assert result["fit"]["kind"] == "piecewise"
    after = await bench.step(verify, balance=bench.balance, gauge=None, shots_each=3)
    assert after["pass"], after["points"]


@pytest.mark.parametrize("options, shots_each, words", [
    ({"dose_cv": 0.08}, 3, "is not repeatable"),
    ({"first_shot_deficit_ul": 5.0, "dose_cv": 0.0}, 1, "redo that series"),
    ({"volume_gain": 1.3}, 3, "outside plausible bounds"),
])
async def test_each_refusal_of_the_fit_is_provoked_by_a_bad_gun(make_bench, options,
                                                                shots_each, words):
    bench = make_bench(**options)
    with pytest.raises(CalibrationError, match=words):
        await bench.step(calibrate, kind="dose", balance=bench.balance,
                         shots_each=shots_each)
    assert bench.store.calibrations() == []              # nothing recorded, nothing stored


async def test_the_first_shot_after_a_syringe_change_is_short_by_the_air(make_bench):
    bench = make_bench(first_shot_deficit_ul=3.0, dose_cv=0.0)
    result = await bench.step(verify, balance=bench.balance, gauge=None, volumes=(25.0,),
                              shots_each=3)
    first, *rest = result["points"][0]["readings"]
    assert first == pytest.approx(22.0, abs=0.1) and rest == pytest.approx([25.0] * 2, abs=0.1)


async def test_depth_scatters_and_lost_motion_is_a_shortfall(make_bench):
    bench = make_bench(backlash_mm=0.1, depth_noise_mm=0.01, seed=3)
    result = await bench.step(verify, balance=None, gauge=bench.gauge, depths=(2.0,),
                              shots_each=10)
    point = result["points"][0]
    assert point["mean"] == pytest.approx(1.9, abs=0.01)
    assert 0.004 < point["sd"] < 0.02


async def test_drift_with_shots_and_temperature_moves_the_gain(make_bench):
    warm = make_bench(temperature_c=30.0, gain_per_c=0.002, dose_cv=0.0)
    result = await warm.step(verify, balance=warm.balance, gauge=None, volumes=(50.0,),
                             shots_each=3, conditions=Conditions.of(30.0, "entered", None))
    assert result["points"][0]["mean"] == pytest.approx(51.0, abs=0.1)    # +2% at 30 C
    physics = warm.gun.firmware.physics
    physics.imperfections.drift_per_1000_shots = 0.01
    physics.shots_since_power_up = 2000
    assert physics.gain(50.0) == pytest.approx(1.02 * 1.02)


# ---- gravimetry ----------------------------------------------------------------------------

def test_water_density_and_the_z_factor_match_iso_8655_6():
    assert water_density_g_ml(20.0) == pytest.approx(0.998207, abs=2e-6)
    assert water_density_g_ml(25.0) == pytest.approx(0.997048, abs=2e-6)
    assert z_factor_ul_per_mg(water_density_g_ml(20.0)) == pytest.approx(1.0029, abs=1e-4)
    assert z_factor_ul_per_mg(water_density_g_ml(25.0)) == pytest.approx(1.0040, abs=1e-4)
    # The host undoes what the balance shows: 10 ul back from its apparent mass.
    density = water_density_g_ml(22.0)
    assert apparent_mass_mg(10.0, density) * z_factor_ul_per_mg(density) == pytest.approx(10.0)


async def test_a_density_of_one_leaves_the_bias_the_z_factor_removes(make_bench):
    bench = make_bench(dose_cv=0.0, temperature_c=25.0, balance_readability_mg=0.01)
    water = Conditions.of(25.0, "entered", None)
    naive = Conditions.of(25.0, "entered", 1.0)
    right = await bench.step(verify, balance=bench.balance, gauge=None, volumes=(100.0,),
                             shots_each=3, conditions=water)
    wrong = await bench.step(verify, balance=bench.balance, gauge=None, volumes=(100.0,),
                             shots_each=3, conditions=naive)
    assert right["points"][0]["error"] == pytest.approx(0.0, abs=0.02)
    assert wrong["points"][0]["error"] == pytest.approx(-0.3, abs=0.03)      # about 0.3%


async def test_evaporation_from_the_cup_shows_as_a_loss(make_bench):
    bench = make_bench(dose_cv=0.0, evaporation_mg_per_min=6.0, balance_readability_mg=0.01)
    result = await bench.step(verify, balance=bench.balance, gauge=None, volumes=(10.0,),
                              shots_each=5)
    assert result["points"][0]["error"] < -0.1


def test_temperatures_outside_gravimetry_are_refused():
    with pytest.raises(ConditionsError, match="needs 15 to 30 C"):
        Conditions.of(35.0, "entered", None)


# ---- instruments, records, certificate ---------------------------------------------------

async def test_an_overdue_instrument_is_refused_before_the_gun_moves(make_bench):
    bench = make_bench()
    overdue = Instrument("balance", "typed", "B-1", date.today() - timedelta(days=1))
    with pytest.raises(InstrumentOverdue, match="B-1 was due"):
        await bench.step(verify, balance=bench.balance, gauge=None, instruments=[overdue])
    assert bench.gun.firmware.shots_done == 0 and not bench.gun.firmware.homed


async def test_verifications_are_recorded_as_found_and_as_left_and_certified(make_bench,
                                                                             tmp_path):
    bench = make_bench(volume_gain=1.05)
    scale = Instrument("balance", "simulated", "BAL-9", date.today() + timedelta(days=30))
    common = dict(balance=bench.balance, instruments=[scale],
                  conditions=Conditions.of(22.0, "balance", None))
    found = await bench.step(verify, gauge=None, shots_each=3, **common)
    made = await bench.step(calibrate, kind="dose", **common)
    left = await bench.step(verify, gauge=None, shots_each=3, **common)
    assert (found["pass"], left["pass"]) == (False, True)
    recorded = bench.store.verifications()
    assert [v["id"] for v in recorded] == [left["verification_id"], found["verification_id"]]
    assert recorded[0]["instruments"][0]["serial_number"] == "BAL-9"

    data = certificate_data(bench.store, made["calibration_id"])
    assert data["as_found"]["verification_id"] == found["verification_id"]
    assert data["as_left"]["verification_id"] == left["verification_id"]
    assert data["verdict"] == "PASS" and data["conditions"]["liquid"] == "water"
    assert data["instruments"][0]["due"] == scale.due.isoformat()
    pdf = write_pdf(data, tmp_path / "certificate.pdf")
    assert pdf.read_bytes().startswith(b"%PDF-") and pdf.stat().st_size > 1000

    (gun,) = devices_due(bench.store, datetime.now(timezone.utc))
    assert (gun.dose.state, gun.depth.state, gun.last_verification["pass"]) == (
        "valid", "none", True)


async def test_a_calibration_never_verified_after_is_not_certified_as_passed(make_bench):
    bench = make_bench()
    made = await bench.step(calibrate, kind="dose", balance=bench.balance)
    assert certificate_data(bench.store, made["calibration_id"])["verdict"] == "NOT VERIFIED"


# ---- through the command line --------------------------------------------------------------

def test_typed_readings_say_what_to_read_and_ask_again_after_a_typo(tmp_path):
    due = (date.today() + timedelta(days=100)).isoformat()
    done = run_cli("calibrate", "depth", "--port", "sim://?depth_offset_mm=0.2",
                   "--gauge", "prompt", "--gauge-serial", "G-7", "--gauge-due", due,
                   "--depths", "1,2,3", "--shots-each", "1", "--db", str(tmp_path / "r.db"),
                   "--json", input="1,2\n1.2\n2.2\n3.2\n", timeout=60)
    assert done.returncode == 0, done.stderr
    assert "depth gauge: set 1 mm, shot 1 of 1: reading in mm?" in done.stderr
    assert "'1,2' is not a reading in mm" in done.stderr
    assert json.loads(done.stdout)["fit"]["offset"] == pytest.approx(0.2, abs=0.01)


def test_a_real_balance_needs_its_due_date_and_an_overdue_one_is_refused(tmp_path):
    db = tmp_path / "r.db"
    missing = run_cli("calibrate", "dose", "--port", "sim://", "--balance", "prompt",
                      "--balance-serial", "B-1", "--temperature-c", "21", "--db", str(db))
    assert missing.returncode == 3 and "give --balance-due YYYY-MM-DD" in missing.stderr
    overdue = run_cli("calibrate", "dose", "--port", "sim://", "--balance", "prompt",
                      "--balance-serial", "B-1", "--balance-due", "2020-01-01",
                      "--temperature-c", "21", "--db", str(db))
    assert overdue.returncode == 3 and "B-1 was due for its own calibration on 2020-01-01" \
        in overdue.stderr
    assert not db.exists() or Store(db, readonly=True).history() == []


async def test_devices_and_the_certificate_from_the_command_line(make_bench, tmp_path):
    # The technician's calibration and verification run here in virtual time (the command
    # line's own are tests/test_cli_calibration.py); the commands read what they recorded.
    bench = make_bench(volume_gain=1.04, serial_number="SIM-DEV-1")
    await bench.step(calibrate, kind="dose", balance=bench.balance, shots_each=2)
    await bench.step(verify, balance=bench.balance, gauge=bench.gauge, shots_each=3,
                     volumes=(10.0, 50.0))
    bench.store.flush()
    db = str(bench.store.path)
    listed = json.loads(run_cli("devices", "--json", "--db", db).stdout)
    validate(listed, "devices")
    listed = listed["devices"]
    assert [(d["serial_number"], d["dose"]["state"]) for d in listed] == [
        ("SIM-DEV-1", "valid")]
    assert listed[0]["dose"]["days_left"] in (89, 90)
    assert listed[0]["last_verification"]["verification_id"] == 1
    verified = json.loads(run_cli("calibration", "verifications", "--json", "--db", db).stdout)
    validate(verified, "verifications")
    assert [v["verification_id"] for v in verified["verifications"]] == [1]
    out = tmp_path / "cal.pdf"
    made = run_cli("calibration", "certificate", "1", "--out", str(out), "--db", db)
    assert made.returncode == 0, made.stderr
    assert out.read_bytes().startswith(b"%PDF-") and "certificate CAL-000001" in made.stdout
    bad = run_cli("calibration", "certificate", "1", "--out", str(tmp_path / "cal.txt"),
                  "--db", db)
    assert bad.returncode == 3 and "give a file name ending in .pdf" in bad.stderr


def test_injector_sim_takes_the_gun_profile_and_seeds_from_the_serial():
    from injector.cli import build_parser
    from injector.cli.sim_cmd import sim_options

    args = build_parser().parse_args(["sim", "--serial", "--dose-cv", "0.02", "--temperature-c",
                                      "25", "--balance-readability-mg", "0.01"])
    options = sim_options(args)
    assert (options.dose_cv, options.temperature_c, options.balance_readability_mg) == (
        0.02, 25.0, 0.01)
    assert options.seed is None and options.effective_seed == GunOptions(
        serial_number=options.serial_number).effective_seed
