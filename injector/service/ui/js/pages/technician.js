// The technician's pages: the devices and their due dates, calibrations and verifications
// with their certificates, the calibration wizard, and the library's limits. The service
// refuses a clinician (403) whatever the page does; the page says so first.
import * as api from "../api.js";
import { t } from "../i18n.js";
import { h, show, button } from "../dom.js";
import { failure } from "../failure.js";
import { keyboard, keypad } from "../keypad.js";
import * as f from "../format.js";

const TECHNICIAN_ROLES = ["technician", "admin"];

function refusedHere() {
  const who = api.me();
  if (who && TECHNICIAN_ROLES.includes(who.role)) return null;
  return h("div", { class: "error", role: "alert", id: "tech-refused", "data-status": "403" },
           h("strong", {}, t("error.refused_role")), " ", t("tech.refused", { role: t(`role.${who ? who.role : "clinician"}`) }));
}

function menu() {
  return h("div", { class: "row" },
           button(t("tech.devices"), () => { location.hash = "#/tech"; }, "", { id: "open-devices" }),
           button(t("tech.wizard"), () => { location.hash = "#/tech/wizard"; }, "primary", { id: "open-wizard" }),
           button(t("tech.library"), () => { location.hash = "#/tech/library"; }, "", { id: "open-library" }));
}

// An axis the record has no technician calibration for runs on the gun's own (factory)
// calibration: its due date is the gun's, when the service has the gun on a link.
const axis = (a, onGun) => (a.calibration_id
  ? t("tech.axis_line", { state: t(`due.${a.state}`), expires: f.localDate(a.expires_at), days: a.days_left ?? "-", shots: a.shots_left ?? "-" })
  : onGun && onGun.due_at ? t("tech.factory_due", { due: f.localDate(onGun.due_at) }) : t(`due.${a.state}`));

export async function techPage() {
  const refused = refusedHere();
  if (refused) return show(h("h1", {}, t("tech.title")), refused);
  const [{ devices }, { calibrations }, { verifications }, guns] = await Promise.all([
    api.get("/devices"), api.get("/calibrations"), api.get("/verifications"), api.get("/guns")]);
  const onGun = (serial, kind) => {
    const gun = guns.find((g) => g.serial_number === serial);
    return gun && gun.calibration ? gun.calibration[kind] : null;
  };
  const message = h("div");
  const certificate = (id) => async () => {
    try { await api.download(`/calibrations/${id}/certificate?format=pdf`, `calibration-${id}.pdf`); }
    catch (error) { message.replaceChildren(failure(error)); }
  };
  show(h("h1", {}, t("tech.title")), menu(), message,
       h("h2", {}, t("tech.devices")),
       h("table", { id: "devices" },
         h("thead", {}, h("tr", {}, ["tech.gun", "tech.model", "tech.dose", "tech.depth", "tech.verified"].map((k) => h("th", {}, t(k))))),
         h("tbody", {}, devices.map((d) => h("tr", { "data-device": d.serial_number },
           h("td", {}, d.serial_number), h("td", {}, `${d.model} ${d.firmware}`),
           h("td", { "data-axis": "dose" }, axis(d.dose, onGun(d.serial_number, "dose"))),
           h("td", { "data-axis": "depth" }, axis(d.depth, onGun(d.serial_number, "depth"))),
           h("td", {}, d.last_verification ? `${f.localTime(d.last_verification.at)} ${t(d.last_verification.pass ? "tech.pass" : "tech.fail")}` : "-"))))),
       h("h2", {}, t("tech.calibrations")),
       h("table", { id: "calibrations" },
         h("tbody", {}, calibrations.map((c) => h("tr", { "data-calibration": String(c.calibration_id) },
           h("td", {}, String(c.calibration_id)), h("td", {}, c.serial_number), h("td", {}, t(`kind.${c.kind}`)),
           h("td", {}, f.localTime(c.created_at)), h("td", {}, c.person), h("td", {}, t(`calstatus.${c.status}`)),
           h("td", {}, button(t("tech.certificate"), certificate(c.calibration_id), "", { "data-certificate": String(c.calibration_id) })))))),
       h("h2", {}, t("tech.verifications")),
       h("table", { id: "verifications" },
         h("tbody", {}, verifications.map((v) => h("tr", { "data-verification": String(v.verification_id) },
           h("td", {}, String(v.verification_id)), h("td", {}, v.serial_number), h("td", {}, f.localTime(v.at)),
           h("td", {}, v.person), h("td", { class: v.pass ? "pass" : "fail" }, t(v.pass ? "tech.pass" : "tech.fail")))))));
}

function field(id, labelKey, attrs = {}) {
  const input = h("input", { id, ...attrs });
  return [h("label", { class: "row" }, h("span", {}, t(labelKey)), input), input];
}

// A verification's points carry their verdict (error against the limits, pass or fail); a
// calibration's carry what the gun was commanded and what it gave, whose difference from
// the set value is what the new calibration corrects.
function pointsTable(points, unit) {
  const verified = points.some((p) => p.pass !== undefined);
  const heads = verified ? ["wizard.set", "wizard.mean", "wizard.error", "wizard.result"]
    : ["wizard.set", "wizard.commanded", "wizard.mean", "wizard.deviation"];
  const amount = (value, p, places) => `${f.plain(value, places)} ${t(`unit.${p.unit || unit}`)}`;
  const signed = (value, places) => `${value > 0 ? "+" : ""}${f.plain(value, places)}`;
  const cells = (p) => {
    const set = p.set ?? p.set_value;
    if (verified) {
      return [h("td", {}, amount(set, p, 2)), h("td", {}, amount(p.mean, p, 3)),
              h("td", {}, `${signed(p.error, 3)} ${t(`unit.${p.unit || unit}`)}`),
              h("td", { class: p.pass ? "pass" : "fail" }, t(p.pass ? "tech.pass" : "tech.fail"))];
    }
    const off = p.mean - set;
    return [h("td", {}, amount(set, p, 2)), h("td", {}, amount(p.commanded, p, 2)),
            h("td", {}, amount(p.mean, p, 3)),
            h("td", {}, `${signed(off, 3)} ${t(`unit.${p.unit || unit}`)} (${signed(off / set * 100, 1)} %)`)];
  };
  return h("table", { id: "wizard-points", "data-kind": verified ? "verification" : "calibration" },
    h("thead", {}, h("tr", {}, heads.map((k) => h("th", {}, t(k))))),
    h("tbody", {}, points.map((p) => h("tr", {}, ...cells(p)))));
}

export async function wizardPage() {
  const guns = await api.get("/guns");
  let kind = "dose";
  let readings = "typed";
  let gun = guns.length ? String(guns[0].number) : "1";
  const [serialBox, serial] = field("balance-serial", "wizard.balance_serial");
  const [dueBox, due] = field("balance-due", "wizard.balance_due", { type: "date" });
  const [gaugeSerialBox, gaugeSerial] = field("gauge-serial", "wizard.gauge_serial");
  const [gaugeDueBox, gaugeDue] = field("gauge-due", "wizard.gauge_due", { type: "date" });
  const [tempBox, temperature] = field("temperature", "wizard.temperature", { inputmode: "decimal" });
  const [shotsBox, shotsEach] = field("shots-each", "wizard.shots_each", { type: "number", min: "1", step: "1", inputmode: "numeric" });
  const [valuesBox, values] = field("set-values", "wizard.volumes", { inputmode: "decimal", "data-list": "" });
  const [depthsBox, depths] = field("set-depths", "wizard.depths", { inputmode: "decimal", "data-list": "" });
  const pad = keypad([temperature, shotsEach, values, depths], { id: "wizard-pad", shown: false });
  const letters = keyboard([serial, gaugeSerial], { id: "wizard-keys" });
  const message = h("div", { id: "wizard-message" });
  // A refusal is said where the technician looks: the message is brought into sight.
  const say = (what) => { message.replaceChildren(what); message.scrollIntoView({ block: "center" }); };
  const stage = h("div", { id: "wizard-stage" });
  const refused = refusedHere();
  const pick = (items, chosen, set, prefix, id) => h("div", { class: "row", id },
    items.map((item) => button(t(`${prefix}.${item}`), () => { set(item); render(); }, chosen() === item ? "chosen" : "", { "data-choice": item, "aria-pressed": String(chosen() === item) })));
  let form;
  function render() {
    form.replaceChildren(...[
      h("h2", {}, t("wizard.what")), pick(["dose", "depth", "verify"], () => kind, (v) => { kind = v; }, "kind", "wizard-kind"),
      h("h2", {}, t("wizard.readings")), pick(["typed", "instrument"], () => readings, (v) => { readings = v; }, "readings", "wizard-readings"),
      h("h2", {}, t("wizard.gun")), h("div", { class: "row", id: "wizard-gun" }, guns.map((g) => button(`${g.number}: ${g.serial_number || "-"}`, () => { gun = String(g.number); render(); }, gun === String(g.number) ? "chosen" : "", { "data-choice": String(g.number) }))),
      readings === "typed" && kind !== "depth" ? [serialBox, dueBox, tempBox] : [],
      readings === "typed" && kind !== "dose" ? [gaugeSerialBox, gaugeDueBox] : [],
      readings === "typed" ? letters : [],
      shotsBox, valuesBox, kind === "verify" ? depthsBox : [], pad,
      h("div", { class: "row" }, button(t("wizard.start"), start, "go", { id: "wizard-start" }))].flat());
  }
  async function start() {
    message.replaceChildren();
    const body = { kind, readings };
    if (shotsEach.value) body.shots_each = Number(shotsEach.value);
    const numbers = (text) => text.split(/[,; ]+/).filter(Boolean).map(Number);
    if (values.value) {
      if (kind === "depth") body.depths = numbers(values.value); else body.volumes = numbers(values.value);
    }
    if (kind === "verify" && depths.value) body.depths = numbers(depths.value);
    if (readings === "typed") {
      if (kind !== "depth") {
        if (serial.value) body.balance_serial = serial.value.trim();
        if (due.value) body.balance_due = due.value;
        // Not a number: sent as typed, so the service's refusal names it.
        const typed = temperature.value.trim();
        if (typed) body.temperature_c = Number.isFinite(Number(typed)) ? Number(typed) : typed;
      }
      if (kind !== "dose") {
        if (gaugeSerial.value) body.gauge_serial = gaugeSerial.value.trim();
        if (gaugeDue.value) body.gauge_due = gaugeDue.value;
      }
    }
    try {
      const answer = await api.post(`/guns/${gun}/calibration-wizard`, body);
      follow(answer.session_id);
    } catch (error) { say(failure(error)); }
  }
  let timer = null;
  async function follow(sessionId) {
    form.hidden = true;
    let shown = "";
    const tick = async () => {
      let state;
      try { state = await api.get(`/calibration-wizard/${sessionId}`); }
      catch (error) { message.replaceChildren(failure(error)); return; }
      const now = `${state.prompt ? state.prompt.number : 0}/${state.readings.length}`;
      if (state.running && now === shown) { timer = setTimeout(tick, 250); return; }
      shown = now;
      stage.replaceChildren(
        h("p", { id: "wizard-run" }, t("wizard.run", { id: sessionId })),
        state.running ? prompt(sessionId, state.prompt) : outcome(state),
        h("h2", {}, t("wizard.readings_taken", { count: state.readings.length })),
        ...(state.readings.length ? [live(state.readings[state.readings.length - 1])] : []),
        h("ol", { id: "wizard-readings-list" }, state.readings.slice(-12).map((r) => h("li", {}, `${r.context}: ${f.plain(r.value, 4)} ${t(`unit.${r.unit}`)}`))));
      if (state.running) timer = setTimeout(tick, 250);
    };
    tick();
  }
  function live(reading) {
    return h("div", { class: "figure", id: "wizard-live" },
             h("div", { class: "value" }, `${f.plain(reading.value, 4)} ${t(`unit.${reading.unit}`)}`),
             h("div", { class: "label" }, t("wizard.live", { instrument: t(`instrument.${reading.instrument.replace(/ /g, "_")}`) })));
  }
  function prompt(sessionId, p) {
    if (!p) return h("div", { class: "notice", id: "wizard-wait" }, t("wizard.gun_working"));
    const value = h("input", { id: "wizard-value", inputmode: "decimal", autocomplete: "off" });
    const answer = async () => {
      message.replaceChildren();
      const typed = value.value.trim();
      if (p.step !== "tare" && (typed === "" || !Number.isFinite(Number(typed)))) {
        say(h("div", { class: "notice warn", role: "alert", id: "wizard-no-reading" }, t("wizard.no_reading")));
        return;
      }
      try {
        await api.post(`/calibration-wizard/${sessionId}/answer`, { prompt: p.number, value: p.step === "tare" ? null : Number(typed) });
      } catch (error) { say(failure(error)); }
    };
    return h("section", { class: "notice", id: "wizard-prompt", "data-step": p.step, "data-prompt": String(p.number) },
      h("p", { class: "prompt" }, p.step === "tare" ? t("wizard.tare", { context: p.context }) : t("wizard.read", { instrument: t(`instrument.${p.instrument.replace(/ /g, "_")}`), context: p.context, unit: t(`unit.${p.unit}`) })),
      p.step === "tare" ? button(t("wizard.tared"), answer, "primary", { id: "wizard-answer" })
        : [h("div", { class: "row" }, value, h("span", { class: "big" }, t(`unit.${p.unit}`)), button(t("wizard.enter"), answer, "primary", { id: "wizard-answer" })),
           keypad([value], { id: "wizard-value-pad" })]);
  }
  function outcome(state) {
    const result = state.result || {};
    const words = state.status === "completed" ? t("wizard.completed") : t("wizard.ended", { status: t(`status.${state.status}`), reason: state.reason || "" });
    return h("section", { id: "wizard-outcome", "data-status": state.status },
      h("p", { class: "big" }, words),
      result.calibration_id ? h("p", {}, t("wizard.calibration_recorded", { id: result.calibration_id })) : null,
      result.verification_id ? h("p", { class: result.pass ? "pass" : "fail" }, t("wizard.verification_recorded", { id: result.verification_id, verdict: t(result.pass ? "tech.pass" : "tech.fail") })) : null,
      result.points ? pointsTable(result.points, result.kind === "depth" ? "mm" : "ul") : null,
      button(t("tech.devices"), () => { location.hash = "#/tech"; }, "primary"));
  }
  if (refused) return show(h("h1", {}, t("wizard.title")), refused);
  form = h("div", { id: "wizard-form" });
  render();
  show(h("h1", {}, t("wizard.title")), menu(), message, form, stage);
  return () => { if (timer) clearTimeout(timer); };
}

export async function libraryPage() {
  const refused = refusedHere();
  if (refused) return show(h("h1", {}, t("library.title")), refused);
  const library = await api.get("/library");
  show(h("h1", {}, t("library.title")), menu(),
       h("p", { id: "library-version" }, t("library.version", { version: library.version, hash: library.hash })),
       h("p", {}, t("library.how")),
       h("table", { id: "limits" },
         h("thead", {}, h("tr", {}, ["library.scope", "library.limit", "library.soft", "library.hard", "library.step", "library.source"].map((k) => h("th", {}, t(k))))),
         h("tbody", {}, library.limits.map((l) => h("tr", {},
           h("td", {}, l.scope), h("td", {}, `${l.what} (${l.unit})`),
           h("td", {}, `${f.plain(l.soft[0], 3)} - ${f.plain(l.soft[1], 3)}`),
           h("td", {}, `${f.plain(l.hard[0], 3)} - ${f.plain(l.hard[1], 3)}`),
           h("td", {}, f.plain(l.step, 3)), h("td", {}, l.source))))));
}
