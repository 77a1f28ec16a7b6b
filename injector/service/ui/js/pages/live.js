// A session as it runs: large live figures from the service's events, hold / resume / stop
// always in reach, alarms in plain words with what to do and an Acknowledge button, the
// summary at the end.
import * as api from "../api.js";
import { t, has } from "../i18n.js";
import { h, show, button } from "../dom.js";
import { failure } from "../failure.js";
import { Events } from "../events.js";
import * as f from "../format.js";
import { zoneLabel } from "../map.js";

function figure(id, label) {
  const value = h("div", { class: "value", id }, "-");
  return [h("div", { class: "figure" }, value, h("div", { class: "label" }, label)), value];
}

export function alarmWords(alarm) {
  const key = `alarm.${alarm.name}`;
  return { text: has(`${key}.text`) ? t(`${key}.text`) : alarm.text,
           action: has(`${key}.action`) ? t(`${key}.action`) : alarm.action };
}

export async function livePage(id) {
  const sessionId = Number(id);
  const known = JSON.parse(sessionStorage.getItem(`injector.session.${sessionId}`) || "{}");
  const session = await api.get(`/sessions/${sessionId}`);
  const gun = known.gun || "1";
  const serial = session.serial_number ?? session.device_serial;
  const planned = session.planned_shots || known.planned_shots || 0;
  const cycle = known.duration_s && planned ? known.duration_s / planned : null;
  const [shotsBox, shotsValue] = figure("live-shots", t("live.shots"));
  const [volumeBox, volumeValue] = figure("live-volume", t("live.volume"));
  const [syringeBox, syringeValue] = figure("live-syringe", t("live.syringe"));
  const [timeBox, timeValue] = figure("live-time", t("live.time_left"));
  const state = h("div", { class: "notice", id: "live-state" }, t("live.running"));
  const alarms = h("div", { id: "alarms" });
  const message = h("div", { id: "live-message" });
  const hold = button(t("live.hold"), () => act("hold"), "hold", { id: "hold" });
  const resume = button(t("live.resume"), () => act("resume"), "go", { id: "resume", disabled: true });
  const stop = button(t("live.stop"), () => act("stop"), "stop", { id: "stop" });
  const summary = button(t("live.summary"), () => { location.hash = `#/sessions/${sessionId}`; }, "primary", { id: "to-summary", hidden: true });
  let ended = false;
  const latched = new Map();

  function done(shots, deliveredUl) {
    shotsValue.textContent = `${f.plain(shots)} / ${f.plain(planned)}`;
    if (deliveredUl !== undefined && deliveredUl !== null) volumeValue.textContent = f.ul(deliveredUl);
    timeValue.textContent = cycle ? f.duration((planned - shots) * cycle) : "-";
  }
  done(session.shots_done || 0, session.volume_delivered_ul);

  function showAlarms() {
    alarms.replaceChildren(...[...latched.values()].map((alarm) => {
      const words = alarmWords(alarm);
      return h("section", { class: "alarm", role: "alert", "data-alarm": alarm.name },
               h("h2", {}, t("alarm.title", { name: has(`alarm.${alarm.name}.name`) ? t(`alarm.${alarm.name}.name`) : alarm.name })),
               h("p", { class: "big" }, words.text),
               h("p", {}, h("strong", {}, t("alarm.what_to_do")), " ", words.action),
               button(t("alarm.acknowledge"), () => acknowledge(alarm), "primary", { "data-ack": alarm.name }));
    }));
  }

  async function acknowledge(alarm) {
    message.replaceChildren();
    try {
      await api.post(`/guns/${gun}/alarms/acknowledge`, { alarm: alarm.name });
      latched.delete(alarm.name);
      showAlarms();
    } catch (error) { message.replaceChildren(failure(error)); }
  }

  function showHeld(isHeld) {
    if (ended) return;
    state.textContent = t(isHeld ? "live.held" : "live.running");
    hold.disabled = isHeld; resume.disabled = !isHeld;
  }

  async function act(what) {
    message.replaceChildren();
    try {
      const answer = await api.post(`/sessions/${sessionId}/${what}`);
      if (what === "hold") showHeld(true);
      if (what === "resume") showHeld(false);
      if (what === "stop") finish(answer.status);
    } catch (error) { message.replaceChildren(failure(error)); }
  }

  function finish(status) {
    if (ended) return;
    ended = true;
    state.textContent = t("live.ended", { status: t(`status.${status}`) });
    state.dataset.status = status;
    hold.disabled = true; resume.disabled = true; stop.disabled = true;
    timeValue.textContent = "-";
    summary.hidden = false;
  }

  // Held by another screen, or before this page was opened: the service says.
  try { showHeld(Boolean((await api.get(`/guns/${gun}`)).held)); }
  catch (error) { message.replaceChildren(failure(error)); }

  // Alarms already latched on the gun before this page opened.
  try {
    const now = await api.get(`/guns/${gun}/alarms`);
    for (const alarm of now.alarms) if (alarm.severity === "stop") latched.set(alarm.name, alarm);
    showAlarms();
  } catch (error) { message.replaceChildren(failure(error)); }
  if (session.status !== "running") finish(session.status);

  // Events this screen cannot have (the service restarted, or the screen was away longer
  // than the service keeps them): say so, and read the session and the alarms again.
  async function catchUp() {
    message.replaceChildren(h("div", { class: "notice", id: "live-missed" }, t("live.missed")));
    try {
      const now = await api.get(`/sessions/${sessionId}`);
      done(now.shots_done || 0, now.volume_delivered_ul);
      const still = await api.get(`/guns/${gun}/alarms`);
      latched.clear();
      for (const alarm of still.alarms) if (alarm.severity === "stop") latched.set(alarm.name, alarm);
      showAlarms();
      if (now.status !== "running") finish(now.status);
    } catch (error) { message.replaceChildren(failure(error)); }
  }

  const events = new Events(known.after ?? null, (event) => {
    if (event.type === "missed") catchUp();
    else if (event.type === "state" && event.gun === serial && event.side === "host" && event.session_id === sessionId) {
      if (event.state === "paused") showHeld(true);
      else if (event.previous === "paused") showHeld(false);
    }
    else if (event.type === "progress" && event.session_id === sessionId) done(event.shots_done, event.delivered_ul);
    else if (event.type === "syringe" && event.gun === serial) syringeValue.textContent = f.ml(event.remaining_ul);
    else if (event.type === "alarm" && event.gun === serial && event.severity === "stop") { latched.set(event.name, event); showAlarms(); }
    else if (event.type === "session" && event.session_id === sessionId && event.status !== "running") {
      if (event.shots_done !== null && event.shots_done !== undefined) done(event.shots_done, event.delivered_ul);
      finish(event.status);
    }
  });

  show(h("h1", { id: "live-title" }, t("live.title", { id: sessionId, preset: session.preset, zone: zoneLabel(session.zone) })),
       h("div", { class: "figures" }, shotsBox, volumeBox, syringeBox, timeBox),
       state, alarms, message,
       h("div", { class: "dock" }, hold, resume, stop, summary));
  return () => events.close();
}
