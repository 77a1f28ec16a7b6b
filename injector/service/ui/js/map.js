// The face and body map: one tappable region per zone of the library. The drawing of each
// region is here (it is art, not data); which zones exist comes from the API, and a zone
// with no drawing still gets its button below the map.
import { h } from "./dom.js";
import { t, has } from "./i18n.js";

const S = { svg: true };
// viewBox 0 0 200 420 (face) and 0 0 260 420 (body front and back); a zone in two parts
// (both hands, both thighs) is a list of paths, each part a target of its own.
const FACE = {
  scalp: "M40 120 Q40 30 100 25 Q160 30 160 120 Q130 80 100 80 Q70 80 40 120 Z",
  face: "M45 125 Q70 88 100 88 Q130 88 155 125 L150 230 Q130 300 100 305 Q70 300 50 230 Z",
  eyelids: "M55 118 h90 v64 h-90 Z",
  neck: "M70 305 Q100 320 130 305 L136 380 L64 380 Z",
};
const FRONT = {
  decollete: "M70 60 h120 l-10 64 h-100 Z",
  abdomen: "M82 128 h96 v88 h-96 Z",
  hands: ["M0 215 h66 v64 h-66 Z", "M194 215 h66 v64 h-66 Z"],
  thighs: ["M78 222 h50 v130 h-50 Z", "M132 222 h50 v130 h-50 Z"],
};
const BACK = {
  back: "M72 60 h116 v140 h-116 Z",
  buttocks: "M78 205 h104 v66 h-104 Z",
};

export function zoneLabel(zone) {
  return has(`zone.${zone}`) ? t(`zone.${zone}`) : zone;
}

function region(name, path, label, pick) {
  const choose = () => pick(name);
  return h("g", { ...S, class: "zone-group", role: "button", tabindex: "0", "data-zone": name,
                  "aria-label": zoneLabel(name), onclick: choose,
                  onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") choose(); } },
           [path].flat().map((d) => h("path", { ...S, class: "zone", d })),
           h("text", { ...S, class: "zone-label", x: label[0], y: label[1] }, zoneLabel(name)));
}

const LABELS = { scalp: [100, 60], face: [100, 240], eyelids: [100, 155], neck: [100, 350],
                 decollete: [130, 95], abdomen: [130, 175], hands: [33, 252], thighs: [130, 300],
                 back: [130, 135], buttocks: [130, 243] };

function drawing(title, width, outline, shapes, zones, pick) {
  return h("svg", { ...S, viewBox: `0 0 ${width} 420`, role: "group", "aria-label": title },
           outline,
           ...Object.entries(shapes).filter(([name]) => zones.has(name))
             .map(([name, path]) => region(name, path, LABELS[name], pick)));
}

/** The map and a button per zone, for the zones the API gives. */
export function bodyMap(zoneNames, pick) {
  const zones = new Set(zoneNames);
  const body = h("path", { ...S, class: "outline",
    d: "M130 54 a22 22 0 1 1 0.1 0 M70 60 h120 v160 l-10 140 h-100 l-10 -140 Z M70 60 l-55 150 M190 60 l55 150" });
  const back = body.cloneNode(true);
  return h("div", { class: "map" },
           drawing(t("map.face"), 200, null, FACE, zones, pick),
           drawing(t("map.front"), 260, body, FRONT, zones, pick),
           drawing(t("map.back"), 260, back, BACK, zones, pick));
}
