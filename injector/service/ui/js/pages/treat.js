// The clinician's steps: zone on the map, a preset allowed there, needle / syringe / gun
// confirmed, the checklist answered, the plan seen, then start. Each step shows what the
// API says (allowed or not and why, the plan's totals); no rule is decided here.
import * as api from "../api.js";
import { t, has } from "../i18n.js";
import { h, show, button } from "../dom.js";
import { failure } from "../failure.js";
import { keyboard, keypad } from "../keypad.js";
import { bodyMap, zoneLabel } from "../map.js";
import { draft, change } from "../draft.js";
import * as f from "../format.js";

const go = (hash) => { location.hash = hash; };

function steps(current) {
  const names = ["zone", "preset", "confirm", "checklist", "plan"];
  return h("div", { class: "row", "aria-label": t("steps.title") },
           names.map((name, i) => h("span", { class: name === current ? "big" : "" },
                                    `${i + 1}. ${t(`steps.${name}`)}`)));
}

export async function mapPage() {
  const zones = await api.get("/zones");
  const pick = (zone) => { change({ zone, preset: null, needle: null }); go("#/treat/presets"); };
  show(steps("zone"), h("h1", {}, t("map.title")),
       bodyMap(zones.map((z) => z.name), pick),
       h("div", { class: "row", id: "zone-buttons" },
         zones.map((z) => button(`${zoneLabel(z.name)} (${f.mm(z.depth_min_mm)} - ${f.mm(z.depth_max_mm)})`,
                                 () => pick(z.name), "", { "data-zone": z.name }))));
}

function presetCard(preset, pick) {
  const facts = h("dl", { class: "facts" },
    h("dt", {}, t("preset.depth")), h("dd", {}, f.mm(preset.depth_mm)),
    h("dt", {}, t("preset.dose")), h("dd", {}, f.ul(preset.dose_ul)),
    h("dt", {}, t("preset.spacing")), h("dd", {}, f.mm(preset.spacing_mm)),
    h("dt", {}, t("preset.rate")), h("dd", {}, f.hz(preset.shot_rate_hz)));
  return h("div", { class: `card ${preset.allowed ? "allowed" : "refused"}`, "data-preset": preset.name },
           h("h3", {}, preset.name), h("div", {}, preset.summary), facts,
           preset.allowed
             ? button(t("preset.choose"), () => pick(preset), "primary", { "data-choose": preset.name })
             : h("p", { class: "reason" }, h("strong", {}, t("preset.not_here")), " ", preset.reason));
}

export async function presetsPage() {
  const { zone } = draft();
  if (!zone) return go("#/treat");
  const answer = await api.get(`/zones/${encodeURIComponent(zone)}/presets`);
  const pick = (preset) => { change({ preset: preset.name, needles: preset.needles, needle: null }); go("#/treat/confirm"); };
  const allowed = answer.presets.filter((p) => p.allowed);
  const refused = answer.presets.filter((p) => !p.allowed);
  show(steps("preset"), h("h1", {}, t("presets.title", { zone: zoneLabel(zone) })),
       h("p", {}, t("presets.library", { version: answer.library.version })),
       h("h2", {}, t("presets.allowed")), h("div", { class: "grid", id: "allowed" }, allowed.map((p) => presetCard(p, pick))),
       h("h2", {}, t("presets.refused")), h("div", { class: "grid", id: "refused" }, refused.map((p) => presetCard(p, pick))),
       h("div", { class: "row" }, button(t("nav.back"), () => go("#/treat"))));
}

function choices(title, items, chosen, label, pick, id) {
  return h("section", { id },
           h("h2", {}, title),
           h("div", { class: "row" }, items.map((item) =>
             button(label(item), () => pick(item), chosen === item.key ? "chosen" : "",
                    { "data-choice": item.key, "aria-pressed": String(chosen === item.key) }))));
}

export async function confirmPage() {
  const d = draft();
  if (!d.preset) return go("#/treat");
  const [syringes, guns] = await Promise.all([api.get("/syringes"), api.get("/guns")]);
  const render = () => {
    const now = draft();
    const ready = now.needle && now.syringe_ml && now.gun;
    // A gun takes the syringe it is configured for: once it is chosen, only that one is
    // offered (the service refuses any other at Start).
    const chosenGun = guns.find((g) => String(g.number) === now.gun);
    const fits = syringes.filter((s) => !chosenGun || !chosenGun.syringe_ml || s.capacity_ml === chosenGun.syringe_ml);
    show(steps("confirm"), h("h1", {}, t("confirm.title")),
         h("p", {}, t("confirm.what", { preset: now.preset, zone: zoneLabel(now.zone) })),
         choices(t("confirm.needle"), now.needles.map((n) => ({ key: n })), now.needle,
                 (n) => n.key, (n) => { change({ needle: n.key }); render(); }, "needles"),
         choices(t("confirm.syringe"), fits.map((s) => ({ key: s.capacity_ml })), now.syringe_ml,
                 (s) => `${f.plain(s.key, 1)} ${t("unit.ml")}`, (s) => { change({ syringe_ml: s.key }); render(); }, "syringes"),
         choices(t("confirm.gun"), guns.map((g) => ({ key: String(g.number), g })), now.gun,
                 ({ g }) => t("confirm.gun_line", { number: g.number, serial: g.serial_number || "-",
                                                    link: t(`link.${g.link}`), syringe: f.ml(g.syringe_remaining_ul),
                                                    alarms: g.alarms && g.alarms.length ? g.alarms.map((a) => a.name).join(", ") : t("confirm.no_alarm") }),
                 (g) => { change({ gun: g.key, ...(g.g.syringe_ml ? { syringe_ml: g.g.syringe_ml } : {}) }); render(); }, "guns"),
         h("div", { class: "row" }, button(t("nav.back"), () => go("#/treat/presets")),
           button(t("confirm.confirm"), () => go("#/treat/checklist"), "primary", { disabled: !ready, id: "confirm" })));
  };
  render();
}

export async function checklistPage() {
  const d = draft();
  if (!d.gun) return go("#/treat");
  const questions = await api.get("/checklist");
  const answers = d.checklist || {};
  const render = () => {
    const failed = questions.filter((q) => q.kind === "check" && answers[q.id] === false);
    const done = questions.every((q) => typeof answers[q.id] === "boolean") && failed.length === 0;
    show(steps("checklist"), h("h1", {}, t("checklist.title")),
         h("p", {}, t("checklist.how")),
         questions.map((q) => h("div", { class: "question", "data-question": q.id },
           h("span", {}, has(`checklist.${q.id}`) ? t(`checklist.${q.id}`) : q.text),
           h("span", { class: "row" },
             button(t("checklist.yes"), () => { answers[q.id] = true; change({ checklist: answers }); render(); },
                    answers[q.id] === true ? "chosen" : "", { "data-answer": "yes", "aria-pressed": String(answers[q.id] === true) }),
             button(t("checklist.no"), () => { answers[q.id] = false; change({ checklist: answers }); render(); },
                    answers[q.id] === false ? "chosen" : "", { "data-answer": "no", "aria-pressed": String(answers[q.id] === false) })))),
         failed.length === 0 ? [] : h("div", { class: "notice warn", role: "alert", id: "checklist-failed" },
           t("checklist.failed")),
         h("div", { class: "row" }, button(t("nav.back"), () => go("#/treat/confirm")),
           button(t("checklist.next"), () => go("#/treat/plan"), "primary", { disabled: !done, id: "checklist-next" })));
  };
  render();
}

export async function planPage() {
  const d = draft();
  if (!d.checklist) return go("#/treat");
  // Contraindications answered yes are shown beside the reason: what the reason passes is
  // in sight when it is typed (the service decides, and records it with the clinician).
  const questions = await api.get("/checklist");
  const present = questions.filter((q) => q.kind === "contraindication" && d.checklist[q.id] === true);
  const contraindications = present.length === 0 ? [] :
    h("div", { class: "notice warn", id: "plan-contraindications", role: "alert" },
      h("strong", {}, t("plan.contraindications")),
      h("ul", {}, present.map((q) => h("li", { "data-question": q.id },
        has(`checklist.${q.id}`) ? t(`checklist.${q.id}`) : q.text))));
  const shots = h("input", { id: "shots", type: "number", inputmode: "numeric", min: "1", step: "1",
                             value: d.shots ?? "", "data-i18n-placeholder": "plan.shots_hint",
                             placeholder: t("plan.shots_hint") });
  const reason = h("input", { id: "override", value: d.override ?? "", autocomplete: "off" });
  const figures = h("div", { id: "plan-figures" });
  const picture = h("div", { id: "plan-picture" });
  const message = h("div", { id: "plan-message" });
  const start = button(t("plan.start"), () => begin(), "go", { id: "start", disabled: true });
  // A reason passes a soft limit or a contraindication answered yes: the service decides
  // whether one is needed, and records it with the signed-in clinician.
  const request = () => ({ preset: d.preset, zone: d.zone, needle: d.needle, syringe_ml: d.syringe_ml,
                           shots: Number(shots.value),
                           ...(reason.value.trim() ? { override: reason.value.trim() } : {}) });
  // Each key of the pad and each step asks for a plan: only the answer to the latest
  // request is shown, so the figures beside Start are always those of the shots it sends.
  // The figures are aria-busy while any request is out.
  let asked = 0;
  let out = 0;
  async function replan() {
    const mine = ++asked;
    start.disabled = true;
    message.replaceChildren();
    figures.replaceChildren();
    picture.replaceChildren();
    if (!shots.value) return;
    change({ shots: Number(shots.value) });
    out += 1;
    figures.setAttribute("aria-busy", "true");
    try {
      const plan = await api.post("/plans", request());
      if (mine !== asked) return;
      figures.replaceChildren(h("dl", { class: "facts" },
        h("dt", {}, t("plan.shots")), h("dd", { "data-figure": "shots" }, f.plain(plan.shots)),
        h("dt", {}, t("plan.requested")), h("dd", {}, f.ul(plan.requested_ul)),
        h("dt", {}, t("plan.to_skin")), h("dd", { "data-figure": "to-skin" }, f.ul(plan.to_skin_estimate_ul)),
        h("dt", {}, t("plan.time")), h("dd", { "data-figure": "time" }, f.duration(plan.duration_s)),
        h("dt", {}, t("plan.refills")), h("dd", { "data-figure": "refills" }, f.plain(plan.refills)),
        h("dt", {}, t("plan.depth_dose")), h("dd", {}, `${f.mm(plan.depth_mm)} / ${f.ul(plan.dose_ul)} / ${f.mm(plan.spacing_mm)}`),
        h("dt", {}, t("plan.library")), h("dd", {}, plan.library.version),
        plan.soft_limits_passed.length ? [h("dt", {}, t("plan.soft")), h("dd", {}, plan.soft_limits_passed.map((c) => c.limit).join(", "))] : []));
      change({ duration_s: plan.duration_s, planned_shots: plan.shots });
      start.disabled = false;
      const url = await api.pictureUrl("/plans/picture", request());
      if (mine !== asked) return;
      picture.replaceChildren(h("img", { class: "picture", src: url, alt: t("plan.picture"), id: "timeline" }));
    } catch (error) {
      if (mine === asked) message.replaceChildren(failure(error));
    } finally {
      out -= 1;
      if (out === 0) figures.removeAttribute("aria-busy");
    }
  }
  async function begin() {
    start.disabled = true;
    try {
      const status = await api.get("/status");
      const answer = await api.post(`/guns/${d.gun}/sessions`, { ...request(), checklist: d.checklist });
      const planned = draft();
      sessionStorage.setItem(`injector.session.${answer.session_id}`, JSON.stringify({
        after: status.service.events.newest, gun: d.gun, duration_s: planned.duration_s, planned_shots: planned.planned_shots }));
      go(`#/live/${answer.session_id}`);
    } catch (error) {
      message.replaceChildren(failure(error));
      message.scrollIntoView({ block: "center" });          // beside Start, in sight
      start.disabled = false;
    }
  }
  shots.addEventListener("change", replan);
  reason.addEventListener("change", () => { change({ override: reason.value }); replan(); });
  const step = (by) => () => { shots.value = Math.max(1, (Number(shots.value) || 0) + by); replan(); };
  show(steps("plan"), h("h1", {}, t("plan.title")),
       h("p", {}, t("confirm.what", { preset: d.preset, zone: zoneLabel(d.zone) })),
       h("div", { class: "row" }, h("label", { for: "shots" }, t("plan.shots")),
         button("-10", step(-10)), shots, button("+10", step(10))),
       keypad([shots], { id: "shots-pad", shown: false }),
       contraindications,
       h("label", { class: "row" }, h("span", {}, t("plan.override")), reason),
       keyboard([reason], { id: "override-keys" }),
       figures, picture, message,
       h("div", { class: "row" }, button(t("nav.back"), () => go("#/treat/checklist")), start));
  if (shots.value) replan();
}
