"""The touchscreen in a real browser: headless Chromium (Debian's, driven by Playwright)
against the service on loopback with a simulated gun (and, for the alarm, a second one that
blocks its line at shot 5). Real time (the browser does not run on the test's virtual clock); every
wait is on a condition of the page, never a fixed delay. Each test saves screenshots to
build/screenshots/ for a person to look at.
"""

from __future__ import annotations

import asyncio
import json
import re
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright, expect

from injector.service.credentials import Role
from injector.service.pages import UI_DIR
from tests.conftest import REPO
from tests.service_rig import SECRET, running_service

pytestmark = pytest.mark.looptime(False)

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = REPO / "build" / "screenshots"
GUNS = ("sim://?watchdog_ms=2000",)
WITH_ALARM = ("sim://?watchdog_ms=2000", "sim://?fault=occlusion@5&watchdog_ms=2000")
"""Gun 1 treats; gun 2 raises an occlusion alarm at its fifth shot. Real time beside a
browser: a watchdog of 2 s (the default is 250 ms), so a loaded machine pausing the
service is not what these tests measure (seen: a wizard aborted on a watchdog alarm)."""
WAIT_MS = 30_000
LARGE = {"width": 1280, "height": 800}
SMALL = {"width": 1024, "height": 600}
"""The two touchscreens the pages are made for."""
FIGURES = ("#live-shots", "#live-volume", "#live-syringe", "#live-time")
ENGLISH = json.loads((UI_DIR / "i18n" / "en.json").read_text(encoding="utf-8"))
GERMAN = json.loads((UI_DIR / "i18n" / "de.json").read_text(encoding="utf-8"))


class Screen:
    """One browser page on the service, the errors its scripts raised, its screenshots."""

    def __init__(self, page: Page, running, name: str) -> None:
        self.page, self.running, self.name = page, running, name
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.set_default_timeout(WAIT_MS)
        expect.set_options(timeout=WAIT_MS)

    async def snap(self, step: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=SCREENSHOTS / f"{self.name}-{step}.png",
                                   full_page=True)

    async def targets_are_large(self) -> None:
        """Every button, field and map region shown is at least 64 px tall: a gloved
        finger's target."""
        small = await self.page.evaluate("""() =>
            [...document.querySelectorAll("button, input, [role=button]")]
              .map(el => [el.id || el.dataset.zone || el.dataset.choice || el.textContent.trim(),
                          el.getBoundingClientRect().height])
              .filter(([name, height]) => height > 0 && height < 64)""")
        assert small == []

    async def above_the_dock(self, *selectors: str) -> None:
        """These are on the screen as it is, above the dock of Hold, Resume and Stop: the
        live figures, and an alarm's words and its Acknowledge button."""
        hidden = await self.page.evaluate("""(selectors) => {
            const dock = document.querySelector(".dock").getBoundingClientRect().top;
            return selectors.filter(selector => {
                const box = document.querySelector(selector).getBoundingClientRect();
                return box.top < 0 || box.bottom > dock; });
        }""", list(selectors))
        assert hidden == []

    async def sign_in(self, name: str) -> None:
        page = self.page
        await page.goto(self.running.url + "/")
        # No keyboard at the chair: the name on the letter keys, the PIN on its pad.
        for letter in name:
            await page.click(f"#name-keys [data-key='{letter}']")
        await expect(page.locator("#name")).to_have_value(name)
        await self.snap("0-sign-in")
        await page.click("#pin")
        await expect(page.locator("#name-keys")).to_be_hidden()
        await expect(page.locator("#sign-in")).to_be_in_viewport()    # 1024x600 as well
        for digit in SECRET:
            if digit.isdigit():
                await page.click(f"#pin-pad button:text-is('{digit}')")
            else:
                await page.locator("#pin").press_sequentially(digit)
        await page.click("#sign-in")
        await expect(page.locator("#sign-out")).to_be_visible()

    async def open(self, hash_: str) -> None:
        await self.page.evaluate("(hash) => { location.hash = hash; }", hash_)

    async def prepare(self, zone: str, preset: str, gun: str, shots: int,
                      snap: bool = False, yes: tuple[str, ...] = ()) -> None:
        """The clinician's steps from the map to a plan ready to start (`yes`: the
        contraindications answered yes); with `snap`, each screen saved and its targets
        measured."""
        page = self.page

        async def look(step: str) -> None:
            if snap:
                await self.snap(step)
                await self.targets_are_large()
        await self.open("#/treat")
        await expect(page.locator(f"svg [data-zone={zone}]")).to_be_visible()
        await look("1-map")
        await page.click(f"svg [data-zone={zone}] path >> nth=0")
        await expect(page.locator(f"[data-choose={preset}]")).to_be_visible()
        await look("2-presets")
        await page.click(f"[data-choose={preset}]")
        await page.click("#needles [data-choice] >> nth=0")
        await page.click("#syringes [data-choice='10']")
        await page.click(f"#guns [data-choice='{gun}']")
        await look("3-confirm")
        await page.click("#confirm")
        questions = page.locator("[data-question]")
        await expect(questions.first).to_be_visible()
        for qid in await questions.evaluate_all("all => all.map(q => q.dataset.question)"):
            answer = ("yes" if qid in ("needle_new_and_sterile", "syringe_checked", *yes)
                      else "no")
            await page.click(f"[data-question={qid}] [data-answer={answer}]")
        await look("4-checklist")
        await page.click("#checklist-next")
        # The screen has no keyboard: the shots are typed on the pad the field opens.
        await expect(page.locator("#shots-pad")).to_be_hidden()
        await page.click("#shots")
        await page.click("#shots-pad [data-key=clear]")
        for digit in str(shots):
            await page.click(f"#shots-pad [data-key='{digit}']")
        await expect(page.locator("#shots")).to_have_value(str(shots))
        await expect(page.locator("#start")).to_be_enabled()


@asynccontextmanager
async def screen(tmp_path: Path, name: str, *users: tuple[str, Role], guns=GUNS,
                 viewport=LARGE):
    assert CHROMIUM.exists(), ("Chromium is missing: .ci/system-tools installs Debian's "
                               "chromium (make test runs it)")
    async with running_service(tmp_path, ports=guns) as running:
        for user, role in users:
            running.add_user(user, role)
        async with async_playwright() as playwright:
            context = await playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True,
                args=ARGS, viewport=viewport, accept_downloads=True)
            try:
                shown = Screen(await context.new_page(), running, name)
                for number in range(len(guns)):
                    await running.online(number)
                yield shown
                assert shown.errors == []
            finally:
                await context.close()


async def api(running, user: str, path: str) -> dict:
    token = await running.sign_in(user)
    async with running.client(token) as client:
        answer = await client.get(path)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_clinician_runs_a_whole_session_to_its_summary_and_exports_it(tmp_path):
    async with screen(tmp_path, "clinician", ("ana", Role.CLINICIAN)) as s:
        page = s.page
        await s.sign_in("ana")
        await s.prepare("face", "nappage-superficial", "1", 12, snap=True)
        await expect(page.locator("[data-figure=shots]")).to_have_text("12")
        await expect(page.locator("#timeline")).to_be_visible()
        await s.snap("5-plan")
        await s.targets_are_large()
        await page.click("#start")
        await expect(page.locator("#live-state")).to_have_attribute("data-status", "completed")
        await expect(page.locator("#live-shots")).to_have_text("12 / 12")
        await expect(page.locator("#live-title")).to_contain_text(ENGLISH["zone.face"])
        await expect(page.locator("#live-volume")).to_have_text("120 µl")
        await expect(page.locator("#live-syringe")).to_contain_text("ml")
        await s.snap("6-live-ended")
        await s.targets_are_large()
        await page.click("#to-summary")
        await expect(page.locator("#summary-status")).to_have_attribute("data-status",
                                                                         "completed")
        await expect(page.locator("[data-figure=shots]")).to_have_text("12 / 12")
        await expect(page.locator("#session-image")).to_be_visible()
        await s.snap("7-summary")
        session_id = int(re.search(r"/sessions/(\d+)", page.url)[1])
        recorded = await api(s.running, "ana", f"/api/v1/sessions/{session_id}")
        assert (recorded["status"], recorded["shots_done"], recorded["person"]) == (
            "completed", 12, "ana")
        # History: the session is there; its export is the API's.
        await page.click("#nav [data-go='#/history']")
        await page.click(f"#history [data-session='{session_id}']")
        await expect(page.locator("#export-csv")).to_be_visible()
        await s.snap("8-history-session")
        async with page.expect_download() as downloading:
            await page.click("#export-csv")
        download = await downloading.value
        lines = Path(await download.path()).read_text().splitlines()
        assert download.suggested_filename == f"session-{session_id}.csv"
        assert lines[0].startswith("session_id,shot_index") and len(lines) == 13


async def test_the_plan_beside_start_is_the_one_for_the_shots_it_sends(tmp_path):
    # Each key and each step asks for a plan; an earlier answer arriving last must not be
    # shown beside Start for shots it will not send. The first plan's answer is held back
    # until a later one has been shown.
    async with screen(tmp_path, "stale-plan", ("ana", Role.CLINICIAN)) as s:
        page = s.page
        await s.sign_in("ana")
        await s.prepare("face", "nappage-superficial", "1", 12)
        later_shown = asyncio.Event()
        held: list = []

        async def plans(route):
            if not held:
                held.append(route)
                await later_shown.wait()
                await route.continue_()
            else:
                await route.continue_()
        await page.route("**/api/v1/plans", plans)
        await page.click("#shots-pad [data-key=clear]")
        await page.click("#shots-pad [data-key='3']")       # asks for 3 shots: held
        await page.click("#shots-pad [data-key='0']")       # asks for 30
        await expect(page.locator("[data-figure=shots]")).to_have_text("30")
        later_shown.set()
        await expect(page.locator("#plan-figures")).not_to_have_attribute("aria-busy", "true")
        await expect(page.locator("[data-figure=shots]")).to_have_text("30")
        await expect(page.locator("#start")).to_be_enabled()
        assert await page.locator("#shots").input_value() == "30"


async def test_the_presets_refused_on_a_zone_show_the_services_reason(tmp_path):
    async with screen(tmp_path, "presets", ("ana", Role.CLINICIAN)) as s:
        page = s.page
        await s.sign_in("ana")
        await s.open("#/treat")
        await page.click("#zone-buttons [data-zone=eyelids]")
        refused = page.locator("#refused [data-preset=infiltration] .reason")
        await expect(refused).to_contain_text("preset infiltration is not for zone eyelids")
        await expect(page.locator("#refused [data-preset=infiltration] button")).to_have_count(0)
        await expect(page.locator("#allowed [data-preset=classical] button")).to_be_visible()


async def test_an_alarm_is_said_in_plain_words_and_acknowledged(tmp_path):
    async with screen(tmp_path, "alarm", ("ana", Role.CLINICIAN), guns=WITH_ALARM,
                      viewport=SMALL) as s:
        page = s.page
        await s.sign_in("ana")
        await s.prepare("thighs", "nappage-superficial", "2", 20)
        await page.click("#start")
        alarm = page.locator("[data-alarm=occlusion]")
        await expect(alarm).to_contain_text(ENGLISH["alarm.occlusion.text"])
        await expect(alarm).to_contain_text(ENGLISH["alarm.occlusion.action"])
        await expect(page.locator("#live-state")).to_have_attribute("data-status", "aborted")
        await s.snap("alarm")
        await s.above_the_dock(*FIGURES, "[data-alarm=occlusion] .big", "[data-ack=occlusion]")
        latched = await api(s.running, "ana", "/api/v1/guns/2/alarms")
        assert [a["name"] for a in latched["alarms"]] == ["occlusion"]
        await page.click("[data-ack=occlusion]")
        await expect(alarm).to_have_count(0)
        assert (await api(s.running, "ana", "/api/v1/guns/2/alarms"))["alarms"] == []
        await page.click("#to-summary")
        await expect(page.locator("[data-figure=alarms]")).to_contain_text("occlusion")
        await s.snap("alarm-summary")


async def test_a_session_is_held_resumed_and_stopped_from_the_dock(tmp_path):
    async with screen(tmp_path, "hold", ("ana", Role.CLINICIAN), viewport=SMALL) as s:
        page = s.page
        await s.sign_in("ana")
        await s.prepare("back", "pinpoint", "1", 20)           # one shot a second
        await page.click("#start")
        shots = page.locator("#live-shots")
        await expect(shots).to_have_text(re.compile(r"^[1-9]\d* / 20$"))
        await s.above_the_dock(*FIGURES)
        await s.targets_are_large()
        await page.click("#hold")
        await expect(page.locator("#resume")).to_be_enabled()
        await expect(page.locator("#live-state")).to_have_text(ENGLISH["live.held"])
        gun = await api(s.running, "ana", "/api/v1/guns/1")
        assert gun["held"] is True
        await s.snap("held")
        held_at = int((await shots.inner_text()).split(" /")[0])
        # The clinician leaves the live page: every screen shows the session and the way
        # back to its Hold and Stop; opened again, the page says held (Resume, not Hold).
        session_id = page.url.rsplit("/", 1)[1]
        await page.click("[data-go='#/history']")
        running = page.locator(f"#running [data-running='{session_id}']")
        await expect(running).to_contain_text(
            ENGLISH["running.session_held"].format(id=session_id, gun=1))
        await page.click(f"#history [data-session='{session_id}']")     # a running one: live
        await expect(page.locator("#live-state")).to_have_text(ENGLISH["live.held"])
        await expect(page.locator("#resume")).to_be_enabled()
        await expect(page.locator("#hold")).to_be_disabled()
        await expect(page.locator("#running")).to_be_hidden()             # it is this page
        await page.click("[data-go='#/treat']")
        await page.click(f"#running [data-open='{session_id}']")
        await expect(page.locator("#resume")).to_be_enabled()
        await page.click("#resume")
        await expect(page.locator("#hold")).to_be_enabled()
        assert (await api(s.running, "ana", "/api/v1/guns/1"))["held"] is False
        await expect(shots).not_to_have_text(re.compile(rf"^{held_at} / 20$"))
        # A screen that comes back with an event number the service no longer has (from an
        # earlier run) is told so, says so, and reads the session again.
        await page.evaluate(f"sessionStorage.setItem('injector.session.{session_id}', "
                            "JSON.stringify({after: 1, gun: '1'}))")
        await page.reload()
        await expect(page.locator("#live-missed")).to_have_text(ENGLISH["live.missed"])
        await expect(shots).to_have_text(re.compile(r"^[1-9]\d* / 20$"))
        await page.click("#stop")
        await expect(page.locator("#live-state")).to_have_attribute("data-status",
                                                                     "interrupted")
        await page.click("#to-summary")
        await expect(page.locator("#summary-status")).to_contain_text("stopped by ana")


async def test_a_contraindication_answered_yes_starts_only_with_a_recorded_reason(tmp_path):
    async with screen(tmp_path, "override", ("ana", Role.CLINICIAN)) as s:
        page = s.page
        await s.sign_in("ana")
        # A check answered no stops at the checklist: no Next, and why.
        await s.open("#/treat")
        await page.click("svg [data-zone=face] path >> nth=0")
        await page.click("[data-choose=nappage-superficial]")
        await page.click("#needles [data-choice] >> nth=0")
        await page.click("#syringes [data-choice='10']")
        await page.click("#guns [data-choice='1']")
        await expect(page.locator("#syringes [data-choice]")).to_have_count(1)   # the gun's
        await expect(page.locator("#syringes [data-choice='10']")).to_be_visible()
        await page.click("#confirm")
        await page.click("[data-question=syringe_checked] [data-answer=no]")
        await expect(page.locator("#checklist-failed")).to_have_text(ENGLISH["checklist.failed"])
        await expect(page.locator("#checklist-next")).to_be_disabled()
        await s.prepare("face", "nappage-superficial", "1", 3, yes=("pregnancy_or_lactation",))
        shown = page.locator("#plan-contraindications [data-question]")
        await expect(shown).to_have_count(1)                # beside the reason, in sight
        await expect(shown).to_have_text(ENGLISH["checklist.pregnancy_or_lactation"])
        await page.click("#start")
        await expect(page.locator("#plan-message [role=alert]")).to_contain_text(
            "contraindication pregnancy_or_lactation answered yes")
        await s.snap("refused")
        await page.fill("#override", "treating the scar only, obstetrician agreed")
        await page.locator("#override").blur()
        await expect(page.locator("#start")).to_be_enabled()
        await page.click("#start")
        await expect(page.locator("#live-state")).to_have_attribute("data-status", "completed")
        session_id = int(re.search(r"/live/(\d+)", page.url)[1])
        recorded = await api(s.running, "ana", f"/api/v1/sessions/{session_id}")
        assert recorded["override"]["reason"] == "treating the scar only, obstetrician agreed"
        assert recorded["override"]["person"] == "ana"


async def test_a_technician_page_is_refused_to_a_clinician_by_the_page_and_the_api(tmp_path):
    async with screen(tmp_path, "refused", ("ana", Role.CLINICIAN)) as s:
        page = s.page
        await s.sign_in("ana")
        await s.open("#/tech/wizard")
        await expect(page.locator("#tech-refused")).to_be_visible()
        await expect(page.locator("#wizard-start")).to_have_count(0)
        await s.snap("technician-refused")
        status = await page.evaluate("""async () => {
            const answer = await fetch("/api/v1/guns/1/calibration-wizard", {
                method: "POST",
                headers: {"Content-Type": "application/json",
                          "Authorization": `Bearer ${sessionStorage.getItem("injector.token")}`},
                body: JSON.stringify({kind: "dose", readings: "instrument"})});
            return [answer.status, (await answer.json()).error];
        }""")
        assert status == [403, "role_refused"]


def _grams(context: str) -> float:
    found = re.search(r"set ([\d.]+) ul, shot (\d+) of", context)
    return round(float(found[1]) * int(found[2]) / 1000 * 0.9982, 5)


async def test_a_technician_calibrates_from_the_wizard_typing_the_balance(tmp_path):
    async with screen(tmp_path, "technician", ("tess", Role.TECHNICIAN)) as s:
        page = s.page
        await s.sign_in("tess")
        await s.open("#/tech/wizard")
        await page.click("#wizard-kind [data-choice=dose]")
        await page.click("#wizard-readings [data-choice=typed]")
        # The serial on the letter keys, capitals with Shift.
        await page.click("#balance-serial")
        keys = page.locator("#wizard-keys")
        await keys.locator("[data-key=shift]").click()
        for key in "bal-7":
            await keys.locator(f"[data-key='{key}']").click()
        await expect(page.locator("#balance-serial")).to_have_value("BAL-7")
        await page.fill("#balance-due", "2031-01-01")
        # A number has one point and no leading zero; touching a field the pad does not
        # serve puts it away rather than typing on into the last one.
        await page.click("#temperature")
        pad = page.locator("#wizard-pad")
        for key in ["0", "2", "0", ".", "5", "."]:
            await pad.locator(f"[data-key='{key}']").click()
        await expect(page.locator("#temperature")).to_have_value("20.5")
        await expect(page.locator("#temperature")).to_have_class(re.compile("typing"))
        await page.click("#balance-serial")
        await expect(pad).to_be_hidden()
        await page.click("#temperature")
        await pad.locator("[data-key=clear]").click()
        await pad.locator("[data-key='2']").click()
        await pad.locator("[data-key='0']").click()
        await expect(page.locator("#temperature")).to_have_value("20")
        # The form's pad: a count takes digits only, set values decimals and commas.
        await page.click("#shots-each")
        await expect(pad.locator("[data-key='.']")).to_be_disabled()
        await expect(pad.locator("[data-key=',']")).to_be_disabled()
        await pad.locator("[data-key=clear]").click()
        await pad.locator("[data-key='2']").click()
        await page.click("#set-values")
        await expect(pad.locator("[data-key=',']")).to_be_enabled()
        await pad.locator("[data-key=clear]").click()
        for key in "10,30,50":
            await pad.locator(f"[data-key='{key}']").click()
        await expect(page.locator("#shots-each")).to_have_value("2")
        await expect(page.locator("#set-values")).to_have_value("10,30,50")
        # A field another kind takes away is not typed into unseen: the pad goes.
        await page.click("#wizard-kind [data-choice=verify]")
        await page.click("#set-depths")
        await page.click("#wizard-kind [data-choice=dose]")
        await pad.locator("[data-key='7']").click()
        await expect(pad).to_be_hidden()
        await expect(page.locator("#set-values")).to_have_value("10,30,50")
        await s.snap("wizard-form")
        await page.click("#wizard-start")
        prompt, outcome = page.locator("#wizard-prompt"), page.locator("#wizard-outcome")
        readings = 0
        while True:
            await expect(prompt.or_(outcome)).to_be_visible()
            if await outcome.count():
                break
            number = await prompt.get_attribute("data-prompt")
            if await prompt.get_attribute("data-step") == "reading":
                context = await prompt.inner_text()
                if readings == 0:           # Enter on an empty field: nothing is sent
                    await page.click("#wizard-answer")
                    await expect(page.locator("#wizard-no-reading")).to_have_text(
                        ENGLISH["wizard.no_reading"])
                    await expect(page.locator(
                        f"#wizard-prompt[data-prompt='{number}']")).to_have_count(1)
                grams = str(_grams(context))
                if readings == 0:           # the first on the pad: the screen has no keys
                    for key in grams:
                        await page.click(f"#wizard-value-pad [data-key='{key}']")
                    await expect(page.locator("#wizard-value")).to_have_value(grams)
                else:
                    await page.fill("#wizard-value", grams)
                readings += 1
                if readings == 3:
                    await s.snap("wizard-reading")
            await page.click("#wizard-answer")
            await expect(page.locator(f"#wizard-prompt[data-prompt='{number}']")).to_have_count(0)
        await expect(outcome).to_have_attribute("data-status", "completed")
        assert "null" not in await page.locator("#wizard-stage").inner_text()
        await s.snap("wizard-done")
        assert readings == 6
        made = (await api(s.running, "tess", "/api/v1/calibrations"))["calibrations"][0]
        assert made["kind"] == "dose" and made["person"] == "tess"
        await expect(outcome).to_contain_text(f"{made['calibration_id']}")
        # What each set value gave, and how far off it was: the table once said "-".
        table = page.locator("#wizard-points[data-kind=calibration]")
        await expect(table.locator("tbody tr")).to_have_count(3)
        for row_text in await table.locator("tbody tr").all_inner_texts():
            assert "-\t" not in row_text + "\t" and re.search(r"[+-]?[\d.]+ %\)", row_text), row_text
        assert [p["set_value"] for p in made["points"]] == [10, 30, 50]
        # The devices page shows it in force, with its certificate.
        await page.click("#open-devices")
        row = page.locator(f"#calibrations [data-calibration='{made['calibration_id']}']")
        await expect(row).to_contain_text(ENGLISH["calstatus.active"])
        # The depth axis runs on the gun's own calibration: its due date is the gun's.
        factory = ENGLISH["tech.factory_due"].split("{due}")[0]
        await expect(page.locator("#devices [data-axis=depth]").first).to_contain_text(
            re.compile(re.escape(factory) + r"\S+"))
        await s.snap("devices")
        async with page.expect_download() as downloading:
            await row.locator("button").click()
        pdf = Path(await (await downloading.value).path()).read_bytes()
        assert pdf.startswith(b"%PDF")
        await page.click("#open-library")
        await expect(page.locator("#limits tbody tr").first).to_be_visible()
        await s.snap("library")


async def test_a_verification_shows_the_guns_own_balance_reading_live(tmp_path):
    async with screen(tmp_path, "verify", ("tess", Role.TECHNICIAN)) as s:
        page = s.page
        await s.sign_in("tess")
        await s.open("#/tech/wizard")
        await page.click("#wizard-kind [data-choice=verify]")
        await page.click("#wizard-readings [data-choice=instrument]")
        await expect(page.locator("#balance-serial")).to_have_count(0)
        await page.fill("#shots-each", "2")
        await page.fill("#set-values", "25")
        await page.fill("#set-depths", "2")
        await page.click("#wizard-start")
        await expect(page.locator("#wizard-live")).to_contain_text(ENGLISH["unit.g"])
        await s.snap("wizard-live")
        await s.targets_are_large()
        outcome = page.locator("#wizard-outcome")
        await expect(outcome).to_have_attribute("data-status", "completed")
        verifications = await api(s.running, "tess", "/api/v1/verifications")
        points = verifications["verifications"][0]["points"]
        await expect(page.locator("#wizard-points[data-kind=verification] tbody tr")).to_have_count(
            len(points))
        verdicts = await page.locator("#wizard-points tbody tr td:last-child").all_inner_texts()
        assert verdicts == [ENGLISH["tech.pass" if p["pass"] else "tech.fail"] for p in points]
        await s.snap("wizard-verified")


async def test_the_second_language_replaces_every_text(tmp_path):
    async with screen(tmp_path, "german", ("ana", Role.CLINICIAN)) as s:
        page = s.page
        await s.sign_in("ana")
        await page.click("#language")
        await expect(page.locator("h1")).to_have_text(GERMAN["map.title"])
        await page.click("#zone-buttons [data-zone=face]")
        await expect(page.locator("h1")).to_have_text(GERMAN["presets.title"].format(
            zone=GERMAN["zone.face"]))
        await s.snap("german-presets")
        shown = await page.locator("body").inner_text()
        english_only = [text for key, text in ENGLISH.items()
                        if text != GERMAN[key] and "{" not in text and len(text) > 5
                        and re.search(rf"(?<!\w){re.escape(text)}(?!\w)", shown)]
        assert english_only == []


def test_ci_installs_the_browser_these_tests_drive():
    """A fresh machine gets Debian's chromium from .ci/system-tools (run by make test), at the
    path these tests launch: the tests fail, never skip, without it."""
    script = (REPO / ".ci" / "system-tools").read_text()
    assert f"CHROMIUM={CHROMIUM}" in script
    assert re.search(r"PACKAGES=\([^)]*\bchromium\b", script)
