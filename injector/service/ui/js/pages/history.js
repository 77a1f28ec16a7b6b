// The recorded sessions, newest first; each with its summary, picture and export.
import * as api from "../api.js";
import { t } from "../i18n.js";
import { h, show, button } from "../dom.js";
import { failure } from "../failure.js";
import { zoneLabel } from "../map.js";
import * as f from "../format.js";

export async function historyPage() {
  const { sessions: rows } = await api.get("/sessions?limit=50");
  show(h("h1", {}, t("history.title")),
       rows.length === 0 ? h("p", {}, t("history.none")) :
       h("table", { id: "history" },
         h("thead", {}, h("tr", {}, ["history.session", "history.started", "history.who", "history.what", "history.status", "history.shots", "history.volume"].map((k) => h("th", {}, t(k))))),
         h("tbody", {}, rows.map((r) => h("tr", { class: "tap", "data-session": String(r.session_id), onclick: () => { location.hash = r.status === "running" ? `#/live/${r.session_id}` : `#/sessions/${r.session_id}`; } },
           h("td", {}, String(r.session_id)), h("td", {}, f.localTime(r.started_at)), h("td", {}, r.person || "-"),
           h("td", {}, `${r.preset} / ${zoneLabel(r.zone)}`), h("td", {}, t(`status.${r.status}`)),
           h("td", {}, f.plain(r.shots_done)), h("td", {}, f.ul(r.volume_delivered_ul)))))));
}

export async function summaryPage(id) {
  const s = await api.get(`/sessions/${id}`);
  const message = h("div");
  const picture = h("div", { id: "session-picture" });
  const exporter = (format) => async () => {
    message.replaceChildren();
    try { await api.download(`/sessions/${id}/export?format=${format}`, `session-${id}.${format}`); }
    catch (error) { message.replaceChildren(failure(error)); }
  };
  show(h("h1", {}, t("summary.title", { id })),
       h("div", { class: "notice", id: "summary-status", "data-status": s.status }, t(`status.${s.status}`), s.end_reason ? ` - ${s.end_reason}` : ""),
       h("dl", { class: "facts", id: "summary" },
         h("dt", {}, t("summary.what")), h("dd", {}, `${s.preset} / ${zoneLabel(s.zone)} / ${s.needle}`),
         h("dt", {}, t("summary.gun")), h("dd", {}, s.serial_number || "-"),
         h("dt", {}, t("summary.who")), h("dd", {}, s.person || "-"),
         h("dt", {}, t("summary.started")), h("dd", {}, f.localTime(s.started_at)),
         h("dt", {}, t("summary.ended")), h("dd", {}, f.localTime(s.ended_at)),
         h("dt", {}, t("summary.shots")), h("dd", { "data-figure": "shots" }, `${f.plain(s.shots_done)} / ${f.plain(s.planned_shots)}`),
         h("dt", {}, t("summary.requested")), h("dd", {}, f.ul(s.volume_requested_ul)),
         h("dt", {}, t("summary.commanded")), h("dd", {}, f.ul(s.volume_commanded_ul)),
         h("dt", {}, t("summary.delivered")), h("dd", { "data-figure": "delivered" }, f.ul(s.volume_delivered_ul)),
         h("dt", {}, t("summary.alarms")), h("dd", { "data-figure": "alarms" }, s.alarms && s.alarms.length ? s.alarms.map((a) => a.name || a).join(", ") : t("summary.no_alarms"))),
       h("div", { class: "row" },
         button(t("summary.export_csv"), exporter("csv"), "", { id: "export-csv" }),
         button(t("summary.export_json"), exporter("json"), "", { id: "export-json" }),
         button(t("nav.history"), () => { location.hash = "#/history"; }),
         button(t("summary.new"), () => { location.hash = "#/treat"; }, "primary")),
       message, picture);
  try {
    const url = await api.pictureUrl(`/sessions/${id}/picture`);
    picture.replaceChildren(h("img", { class: "picture", src: url, alt: t("summary.picture"), id: "session-image" }));
  } catch (error) { picture.replaceChildren(failure(error)); }
}
