/* callintel QA web UI: plain JavaScript, no build step, no external resources.
 * Pages (hash routes): #/dashboard, #/call/<id>, #/queue, #/live.
 * Every request sends the API key kept in localStorage ("callintel.apiKey").
 * Untrusted text (transcripts, names) is only ever inserted with textContent. */
"use strict";

const KEY = "callintel.apiKey";
const INTENTS = ["billing", "technical_support", "order_status", "product_inquiry", "complaint",
  "cancellation", "appointment", "other"];
const FLAGS = ["cancellation", "refund", "outage", "supervisor_request", "repeat_contact", "legal_threat",
  "fraud_or_security", "chargeback"];
const OUTCOMES = ["resolved", "escalated", "pending", "unresolved"];
const COLORS = { negative: "#e5484d", neutral: "#98a2b3", positive: "#30a46c", bar: "#2f5bea", qa: "#8e4ec6" };
const app = document.getElementById("app");

// ---------- small DOM helpers ----------
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const svgNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, text) {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
const num = (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const secs = (v) => (v === null || v === undefined ? "–" : `${Math.floor(v / 60)}:${String(Math.round(v % 60)).padStart(2, "0")}`);
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
const badge = (text, cls) => h("span", { class: `badge ${cls || text || ""}` }, text || "–");

function showError(message) {
  const box = document.getElementById("error");
  box.textContent = message || "";
  box.hidden = !message;
}

// ---------- API ----------
function apiKey() { return localStorage.getItem(KEY) || ""; }

async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: `Bearer ${apiKey()}` }, options.headers || {});
  if (options.json !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.json);
  }
  const response = await fetch(path, { method: options.method || "GET", headers, body: options.body });
  if (options.raw) return response;
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { message: text }; }
  if (!response.ok) {
    const err = new Error(`${response.status} ${(body && body.code) || ""}: ${(body && body.message) || text}`);
    err.status = response.status;
    throw err;
  }
  return body;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== "" && v !== null && v !== undefined) q.set(k, v);
  const text = q.toString();
  return text ? `?${text}` : "";
}

// ---------- key form ----------
function setupKeyForm() {
  const input = document.getElementById("api-key");
  const state = document.getElementById("key-state");
  const refresh = () => { state.textContent = apiKey() ? "key saved" : "no key"; };
  document.getElementById("key-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (input.value.trim()) localStorage.setItem(KEY, input.value.trim());
    input.value = "";
    refresh();
    route();
  });
  refresh();
}

// ---------- charts (inline SVG) ----------
function barChart(title, rows, { color = COLORS.bar, format = (v) => num(v, 0), max } = {}) {
  const width = 420, rowH = 22, pad = 120;
  const top = Math.max(max || 0, ...rows.map((r) => r.value || 0), 1);
  const svg = s("svg", { viewBox: `0 0 ${width} ${rows.length * rowH + 8}`, role: "img", "aria-label": title });
  rows.forEach((r, i) => {
    const y = i * rowH + 4;
    const w = ((r.value || 0) / top) * (width - pad - 50);
    svg.append(s("text", { x: 0, y: y + 14 }, r.label.length > 18 ? `${r.label.slice(0, 17)}…` : r.label));
    svg.append(s("rect", { x: pad, y, width: Math.max(w, 1), height: rowH - 6, rx: 3, fill: r.color || color }));
    svg.append(s("text", { x: pad + w + 6, y: y + 14 }, format(r.value)));
  });
  return h("div", { class: "card chart" }, h("h2", {}, title),
    rows.length ? svg : h("p", { class: "muted" }, "No data"));
}

function stackedChart(title, groups) {
  const width = 420, rowH = 22, pad = 120, labels = ["negative", "neutral", "positive"];
  const svg = s("svg", { viewBox: `0 0 ${width} ${groups.length * rowH + 8}`, role: "img", "aria-label": title });
  groups.forEach((g, i) => {
    const y = i * rowH + 4;
    const total = labels.reduce((a, k) => a + (g.sentiment[k] || 0), 0) || 1;
    let x = pad;
    svg.append(s("text", { x: 0, y: y + 14 }, g.key));
    for (const k of labels) {
      const w = ((g.sentiment[k] || 0) / total) * (width - pad - 10);
      if (w > 0) svg.append(s("rect", { x, y, width: w, height: rowH - 6, fill: COLORS[k] }));
      x += w;
    }
  });
  const legend = h("div", { class: "legend" }, labels.map((k) =>
    h("span", {}, h("i", { class: "swatch", style: `background:${COLORS[k]}` }), k)));
  return h("div", { class: "card chart" }, h("h2", {}, title), groups.length ? svg : h("p", { class: "muted" }, "No data"), legend);
}

// ---------- dashboard ----------
const FILTERS = ["from", "to", "queue", "agent_id", "intent", "flag", "sentiment", "escalation"];

function readForm(form) {
  const data = {};
  for (const [k, v] of new FormData(form).entries()) data[k] = String(v).trim();
  for (const k of ["from", "to"]) if (data[k]) data[k] = new Date(data[k]).toISOString();
  return data;
}

function filterForm(onSubmit) {
  const select = (name, options, label) => h("label", {}, label,
    h("select", { name }, h("option", { value: "" }, "any"), options.map((o) => h("option", { value: o }, o))));
  const text = (name, label, type = "text") => h("label", {}, label, h("input", { name, type, size: 12 }));
  const form = h("form", { class: "filters card", id: "filters" },
    text("from", "From", "date"), text("to", "To", "date"), text("queue", "Queue"), text("agent_id", "Agent"),
    select("intent", INTENTS, "Intent"), select("flag", FLAGS, "Flag"),
    select("sentiment", ["negative", "neutral", "positive"], "Sentiment"),
    select("escalation", ["none", "suggest", "require"], "Escalation"),
    select("group_by", ["day", "week", "queue", "agent"], "Group by"),
    h("label", {}, "Search transcripts", h("input", { name: "q", id: "search-q", size: 28, placeholder: "e.g. customers angry about double charges" })),
    select("mode", ["hybrid", "semantic", "text"], "Mode"),
    h("button", { type: "submit" }, "Apply"));
  form.querySelector("[name=group_by]").value = "day";
  form.querySelector("[name=mode] option[value='']").remove();
  form.addEventListener("submit", (ev) => { ev.preventDefault(); onSubmit(readForm(form)); });
  return form;
}

function kpis(t) {
  const card = (label, value) => h("div", { class: "card kpi" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
  return h("div", { class: "grid kpis", id: "kpis" },
    card("Calls", t.volume), card("Avg handle time", secs(t.avg_handle_time_s)),
    card("Transfer rate", pct(t.transfer_rate)), card("Escalation rate", pct(t.escalation_rate)),
    card("Repeat contact (7 d)", pct(t.repeat_contact_rate)), card("Avg QA score", num(t.qa.avg_score)),
    card("Sentiment worsening", `${t.sentiment_change.worsening} / ${t.volume}`));
}

function charts(m) {
  const groups = m.groups || [];
  const qaItems = Object.entries(m.totals.qa.item_pass_rates || {}).map(([k, v]) => ({ label: k, value: v * 100 }));
  return h("div", { class: "grid charts", id: "charts" },
    barChart(`Calls by ${m.group_by || "group"}`, groups.map((g) => ({ label: g.key, value: g.volume }))),
    barChart(`Average QA score by ${m.group_by || "group"}`, groups.map((g) => ({ label: g.key, value: g.qa.avg_score || 0 })),
      { color: COLORS.qa, format: (v) => num(v), max: 100 }),
    stackedChart("Customer sentiment", groups),
    barChart("Top intents", m.totals.top_intents.map((r) => ({ label: r.label, value: r.count }))),
    barChart("Top urgent flags", m.totals.top_flags.map((r) => ({ label: r.label, value: r.count })), { color: COLORS.negative }),
    barChart("QA item pass rate", qaItems, { color: COLORS.qa, format: (v) => `${num(v, 0)}%`, max: 100 }));
}

function callTable(calls, { search = false, queue = false } = {}) {
  const head = h("tr", {}, ["Call", "When", "Agent", "Queue", "Intent", "Sentiment", "Flags", "Escalation", "QA"]
    .concat(queue ? ["Why"] : []).map((c) => h("th", {}, c)));
  const rows = calls.map((c) => h("tr", { class: "clickable", dataset: { callId: c.id }, onclick: () => { location.hash = `#/call/${c.id}`; } },
    h("td", {}, h("a", { href: `#/call/${c.id}` }, c.external_id || c.id),
      search && c.snippet ? h("div", { class: "snippet" }, c.snippet.slice(0, 160)) : null),
    h("td", {}, when(c.started_at || c.created_at)), h("td", {}, c.agent_id || "–"), h("td", {}, c.queue || "–"),
    h("td", {}, c.intent || "–"), h("td", {}, c.sentiment ? badge(c.sentiment) : "–"),
    h("td", {}, (c.flags || []).map((f) => badge(f, "flag"))),
    h("td", {}, badge(c.escalation || "none"), c.priority && c.escalation !== "none" ? badge(c.priority) : null),
    h("td", {}, c.qa_score === null || c.qa_score === undefined ? "–" : num(c.qa_score, 0)),
    queue ? h("td", {}, c.why === "low_confidence" ? `low confidence: ${(c.low_confidence || []).join(", ")}` : "escalation") : null));
  return h("table", { class: "calls" }, h("thead", {}, head), h("tbody", {}, rows));
}

async function dashboard() {
  const metricsBox = h("div", { id: "metrics" });
  const listBox = h("div", { class: "card", id: "call-list" });
  const load = async (f) => {
    const filters = Object.fromEntries(FILTERS.map((k) => [k, f[k]]));
    const m = await api(`/v1/metrics/summary${query({ from: f.from, to: f.to, queue: f.queue, agent_id: f.agent_id, group_by: f.group_by || "day" })}`);
    metricsBox.replaceChildren(kpis(m.totals), charts(m));
    if (f.q) {
      const r = await api(`/v1/search${query(Object.assign({ q: f.q, mode: f.mode || "hybrid" }, filters))}`);
      listBox.replaceChildren(h("h2", {}, `Search results for “${f.q}” (${r.mode})`), callTable(r.results, { search: true }));
    } else {
      const r = await api(`/v1/review/calls${query(Object.assign({ status: "completed" }, filters, { from: f.from, to: f.to }))}`);
      listBox.replaceChildren(h("h2", {}, `Calls (${r.calls.length})`), callTable(r.calls));
    }
  };
  app.replaceChildren(h("h1", {}, "QA dashboard"), filterForm((f) => load(f).catch((e) => showError(e.message))), metricsBox, listBox);
  await load({ group_by: "day" });
}

// ---------- call page ----------
function highlight(turns) {
  document.querySelectorAll(".turn.hl").forEach((el) => el.classList.remove("hl"));
  let first = null;
  for (const t of turns || []) {
    const el = document.getElementById(`turn-${t}`);
    if (el) { el.classList.add("hl"); first = first || el; }
  }
  if (first) first.scrollIntoView({ block: "center", behavior: "smooth" });
}
const evidence = (text, turns, extra = {}) => h("span", Object.assign({ class: "evidence", title: `turns ${(turns || []).join(", ")}`, onclick: () => highlight(turns) }, extra), text);

async function audioPlayer(callId) {
  const box = h("div", { class: "card", id: "player" }, h("h2", {}, "Redacted audio"));
  try {
    const response = await api(`/v1/calls/${callId}/audio`, { raw: true });
    if (!response.ok) throw new Error("no audio");
    const url = URL.createObjectURL(await response.blob());
    box.append(h("audio", { controls: true, src: url, id: "audio", preload: "metadata" }));
  } catch (_) {
    box.append(h("p", { class: "muted" }, "No redacted audio for this call."));
  }
  return box;
}

function transcriptView(doc) {
  const sentiment = new Map(((doc.sentiment || {}).turns || []).map((t) => [t.turn, t]));
  const flagsByTurn = new Map();
  for (const f of doc.flags || []) for (const t of f.turns || []) flagsByTurn.set(t, (flagsByTurn.get(t) || []).concat(f.topic));
  const turns = (doc.transcript.turns || []).map((t) => {
    const sent = sentiment.get(t.index);
    const label = sent ? sent.label : "neutral";
    const pick = h("select", { class: "sentiment-fix", dataset: { turn: t.index }, "aria-label": `sentiment of turn ${t.index}` },
      ["negative", "neutral", "positive"].map((k) => h("option", { value: k, selected: k === label }, k)));
    pick.dataset.original = label;
    return h("div", { class: `turn ${t.speaker} ${label}`, id: `turn-${t.index}` },
      h("div", {}, h("div", { class: "who" }, t.speaker),
        h("div", { class: "time", onclick: () => { const a = document.getElementById("audio"); if (a) { a.currentTime = t.start; a.play(); } } }, secs(t.start))),
      h("div", {}, t.text, (flagsByTurn.get(t.index) || []).map((f) => h("span", {}, " ", badge(`⚑ ${f}`, "flag"))),
        sent && sent.corrected ? h("span", {}, " ", badge("corrected", "corrected")) : null),
      h("div", {}, pick));
  });
  return h("div", { class: "card", id: "transcript" }, h("h2", {}, "Transcript (coloured by sentiment)"), turns);
}

function summaryView(doc) {
  const sm = doc.summary || {};
  const item = (label, it) => it ? h("li", {}, h("b", {}, `${label}: `), evidence(it.text, it.turns)) : null;
  const esc = doc.escalation || {};
  return h("div", { class: "card", id: "summary" }, h("h2", {}, "Summary", sm.corrected ? h("span", {}, " ", badge("corrected", "corrected")) : null),
    h("ul", {}, item("Reason", sm.reason), (sm.actions || []).map((a) => item("Action", a)),
      h("li", {}, h("b", {}, "Outcome: "), evidence(sm.outcome || "–", sm.outcome_turns)),
      (sm.next_steps || []).map((n) => item("Next step", n))),
    h("h2", {}, "Flags"), h("div", { id: "flags" }, (doc.flags || []).length ? (doc.flags || []).map((f) =>
      h("span", {}, evidence(badge(`${f.topic} (${f.raised_by})`, "flag"), f.turns), " ")) : h("span", { class: "muted" }, "none")),
    h("h2", { style: "margin-top:10px" }, "Escalation"),
    h("div", {}, badge(esc.decision || "none"), esc.priority ? badge(esc.priority) : null,
      h("ul", {}, (esc.reasons || []).map((r) => h("li", {}, evidence(r.code, r.turns), r.detail ? ` — ${r.detail}` : "")))),
    esc.handoff_brief ? h("p", { class: "muted" }, esc.handoff_brief.text) : null);
}

function scorecardView(doc) {
  const qa = doc.qa || { items: [] };
  const items = qa.items.map((it) => h("div", { class: "qa-item", dataset: { item: it.id } },
    h("span", { class: "label", title: it.note || "", onclick: () => highlight(it.turns) }, it.label,
      it.turns && it.turns.length ? h("span", { class: "muted" }, ` (turns ${it.turns.join(", ")})`) : null),
    h("span", {}, badge(it.result, it.result === "n/a" ? "" : it.result), it.corrected ? badge("corrected", "corrected") : null),
    h("select", { class: "qa-fix", dataset: { item: it.id, original: it.result }, "aria-label": `correct ${it.id}` },
      ["pass", "fail", "n/a"].map((r) => h("option", { value: r, selected: r === it.result }, r)))));
  return h("div", { class: "card", id: "scorecard" },
    h("h2", {}, `Scorecard (${qa.scorecard || "default"})`),
    h("div", { class: "score", id: "qa-score" }, qa.score === null || qa.score === undefined ? "n/a" : num(qa.score, 0)), items);
}

function correctionForm(callId, doc) {
  const intent = doc.intent || {};
  const labels = INTENTS.includes(intent.label) || !intent.label ? INTENTS : INTENTS.concat(intent.label);
  const current = new Set((doc.flags || []).map((f) => f.topic));
  const sm = doc.summary || {};
  const status = h("span", { class: "saved", id: "save-status" });
  const form = h("form", { class: "card", id: "corrections" },
    h("h2", {}, "Corrections"),
    h("p", {}, "Intent: ", h("b", { id: "intent-label" }, intent.label || "–"), ` (${num((intent.confidence || 0) * 100, 0)}%)`,
      intent.corrected ? h("span", {}, " ", badge("corrected", "corrected")) : null),
    h("label", {}, "Correct intent ", h("select", { name: "intent", id: "intent-select" },
      labels.map((l) => h("option", { value: l, selected: l === intent.label }, l)))),
    h("fieldset", {}, h("legend", {}, "Flags"), FLAGS.map((f) => h("label", { style: "margin-right:8px" },
      h("input", { type: "checkbox", name: "flag", value: f, checked: current.has(f) }), ` ${f}`))),
    h("label", {}, "Outcome ", h("select", { name: "outcome" }, OUTCOMES.map((o) => h("option", { value: o, selected: o === sm.outcome }, o)))),
    h("p", {}, h("label", {}, "Reason ", h("input", { name: "reason", size: 50, value: (sm.reason || {}).text || "" }))),
    h("p", {}, h("label", {}, "Note ", h("input", { name: "note", size: 50 })), " ",
      h("label", {}, h("input", { type: "checkbox", name: "reviewed" }), " mark reviewed")),
    h("button", { type: "submit", id: "save-corrections" }, "Save corrections"), status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = buildCorrection(form, doc);
    if (!Object.keys(body).length) { status.textContent = "nothing changed"; return; }
    try {
      await api(`/v1/calls/${callId}/analysis`, { method: "PATCH", json: body });
      status.textContent = "saved";
      await callPage(callId, "saved");
    } catch (e) { showError(e.message); }
  });
  return form;
}

function buildCorrection(form, doc) {
  const data = new FormData(form);
  const body = {};
  if (data.get("intent") && data.get("intent") !== (doc.intent || {}).label) body.intent = data.get("intent");
  const flags = data.getAll("flag").map(String);
  const before = (doc.flags || []).map((f) => f.topic).sort();
  if (JSON.stringify([...flags].sort()) !== JSON.stringify(before)) body.flags = flags;
  const sm = doc.summary || {};
  const summary = {};
  if (data.get("outcome") && data.get("outcome") !== sm.outcome) summary.outcome = data.get("outcome");
  if (String(data.get("reason") || "") !== ((sm.reason || {}).text || "") && data.get("reason")) summary.reason = data.get("reason");
  if (Object.keys(summary).length) body.summary = summary;
  const sentiment = [...document.querySelectorAll(".sentiment-fix")].filter((el) => el.value !== el.dataset.original)
    .map((el) => ({ turn: Number(el.dataset.turn), label: el.value }));
  if (sentiment.length) body.sentiment = sentiment;
  const qa = [...document.querySelectorAll(".qa-fix")].filter((el) => el.value !== el.dataset.original)
    .map((el) => ({ id: el.dataset.item, result: el.value }));
  if (qa.length) body.qa = qa;
  if (data.get("reviewed")) body.reviewed = true;
  if (data.get("note")) body.note = String(data.get("note"));
  return body;
}

function historyView(rows) {
  return h("div", { class: "card", id: "history" }, h("h2", {}, `Correction history (${rows.length})`),
    rows.length ? h("table", {}, h("tr", {}, ["When", "Reviewer", "Field", "Original", "Corrected"].map((c) => h("th", {}, c))),
      rows.map((r) => h("tr", {}, h("td", {}, when(r.created_at)), h("td", {}, r.reviewer || "–"), h("td", {}, r.field),
        h("td", {}, JSON.stringify(r.original)), h("td", {}, JSON.stringify(pick(r.corrected))))))
      : h("p", { class: "muted" }, "No corrections yet."));
}
function pick(value) {
  if (value && typeof value === "object" && "text" in value) { const { text, ...rest } = value; return rest; }
  return value;
}

async function callPage(callId, flash) {
  const data = await api(`/v1/review/calls/${encodeURIComponent(callId)}`);
  const c = data.call, doc = data.analysis;
  const header = h("div", { class: "card" }, h("h1", {}, `Call ${c.external_id || c.id}`),
    h("div", { class: "muted" }, `${when(c.started_at || c.created_at)} · agent ${c.agent_id || "–"} · queue ${c.queue || "–"} · customer ${c.customer_id || "–"} · ${secs(c.duration_s)} · analysis v${data.analysis_version || "–"}`),
    flash ? h("div", { class: "saved", id: "flash" }, "Corrections saved.") : null);
  if (!doc) { app.replaceChildren(header, h("p", {}, `Status: ${c.status}`)); return; }
  const left = h("div", {}, await audioPlayer(callId), transcriptView(doc));
  const right = h("div", {}, scorecardView(doc), summaryView(doc), correctionForm(callId, doc), historyView(data.corrections));
  app.replaceChildren(header, h("div", { class: "call-layout" }, left, right));
}

// ---------- review queue ----------
async function queuePage() {
  const data = await api("/v1/review-queue");
  app.replaceChildren(h("h1", {}, "Review queue"),
    h("p", { class: "muted" }, "Calls the guardrail sent to a human, then low-confidence analyses; most urgent first, then oldest."),
    h("div", { class: "card", id: "queue" }, data.items.length ? callTable(data.items, { queue: true }) : h("p", {}, "Nothing to review.")));
}

// ---------- live assist ----------
function sparkline(values) {
  const w = 200, hgt = 40;
  const svg = s("svg", { viewBox: `0 0 ${w} ${hgt}`, class: "spark", role: "img", "aria-label": "customer sentiment, recent turns" });
  svg.append(s("line", { x1: 0, x2: w, y1: hgt / 2, y2: hgt / 2, stroke: "#d0d5dd" }));
  if (values.length > 1) {
    const pts = values.map((v, i) => `${(i / (values.length - 1)) * w},${hgt / 2 - v * (hgt / 2 - 3)}`).join(" ");
    svg.append(s("polyline", { points: pts, fill: "none", stroke: COLORS.bar, "stroke-width": 2 }));
  }
  return svg;
}

function liveRender(box, r) {
  const intent = r.intent || {};
  const esc = r.escalation || {};
  const flow = r.flow;
  const sent = r.sentiment || {};
  const trend = sent.trend;
  const parts = [
    h("h2", {}, "Suggestions"),
    esc.warning ? h("div", { class: "alert", id: "live-warning" }, `⚠ ${esc.warning}`) : null,
    h("p", {}, "Intent so far: ", h("b", { id: "live-intent" }, intent.label || "–"),
      intent.confidence ? ` (${num(intent.confidence * 100, 0)}%)` : "", intent.low_confidence ? badge("low confidence", "suggest") : null),
    h("p", {}, "Escalation: ", badge(esc.decision || "none"), esc.priority && esc.decision !== "none" ? badge(esc.priority) : null,
      (esc.reasons || []).map((x) => badge(x.code, "flag"))),
    (r.alerts || []).map((a) => h("div", { class: "alert" }, `⚑ New urgent topic: ${a.topic} (raised by ${a.raised_by})`)),
    (r.flags || []).length ? h("p", {}, "Topics: ", r.flags.map((f) => badge(f, "flag"))) : null,
    flow ? h("div", { class: "card", id: "live-flow" }, h("div", { class: "muted" }, flow.flow_title || flow.flow_id),
      h("b", {}, "Next step: "), flow.next_step || "", flow.action ? h("div", {}, "Action: ", flow.action) : null,
      (flow.expecting || []).length ? h("div", { class: "muted" }, `Listening for: ${flow.expecting.join(" · ")}`) : null) : null,
    h("div", {}, "Customer sentiment: ", sent.customer ? badge(sent.customer.label) : "–",
      trend ? h("span", {}, " trend ", badge(trend.direction)) : null, h("div", {}, sparkline(sent.recent || []))),
    h("h2", {}, "Knowledge base"),
    (r.kb_suggestions || []).length ? h("ol", { id: "live-kb" }, r.kb_suggestions.map((k) => h("li", {},
      k.url ? h("a", { href: k.url, target: "_blank", rel: "noopener" }, k.title || k.article_id) : h("b", {}, k.title || k.article_id),
      h("div", { class: "snippet" }, k.passage || "")))) : h("p", { class: "muted" }, "No suggestions yet."),
    h("details", {}, h("summary", {}, "Raw response"), h("pre", { class: "raw" }, JSON.stringify(r, null, 2)))];
  box.replaceChildren(...parts.flat().filter(Boolean));
}

async function livePage() {
  const side = h("div", { class: "card", id: "live-suggestions" }, h("p", { class: "muted" }, "Send what the customer says to get suggestions."));
  let session;
  try {
    session = await api("/v1/live/sessions", { method: "POST", json: {} });
  } catch (e) {
    app.replaceChildren(h("h1", {}, "Live agent assist"), h("p", {}, `Live assist needs an API key with the agent scope (${e.message}).`));
    return;
  }
  const id = session.session_id;
  const chat = h("div", { class: "card chat", id: "live-chat" }, h("h2", {}, "Conversation"), h("div", { class: "muted" }, `session ${id}`));
  const speaker = h("select", { name: "speaker", id: "live-speaker" }, h("option", { value: "customer" }, "customer"), h("option", { value: "agent" }, "agent"));
  const text = h("input", { name: "text", id: "live-text", size: 60, placeholder: "What was said…" });
  const form = h("form", { class: "card filters", id: "live-form" }, speaker, text, h("button", { type: "submit" }, "Send"));
  const end = h("button", { type: "button", class: "secondary", id: "live-end" }, "End call and analyse");
  const started = Date.now();
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!text.value.trim()) return;
    const utterance = { speaker: speaker.value, text: text.value.trim(), ts: (Date.now() - started) / 1000 };
    chat.append(h("div", { class: `msg ${utterance.speaker}` }, utterance.text));
    text.value = "";
    speaker.value = utterance.speaker === "customer" ? "agent" : "customer";
    try {
      liveRender(side, await api(`/v1/live/${id}/utterances`, { method: "POST", json: utterance }));
    } catch (e) { showError(`live assist: ${e.message}`); }
  });
  end.addEventListener("click", async () => {
    try {
      const done = await api(`/v1/live/${id}/end`, { method: "POST" });
      side.replaceChildren(h("h2", {}, "Call ended"), h("p", {}, "Stored and analysed as ", h("a", { href: `#/call/${done.call_id}`, id: "live-call-link" }, done.call_id)));
      form.remove(); end.remove();
    } catch (e) { showError(`live assist: ${e.message}`); }
  });
  app.replaceChildren(h("h1", {}, "Live agent assist"), h("div", { class: "live-layout" }, h("div", {}, chat, form, end), side));
}

// ---------- router ----------
async function route() {
  showError("");
  const [, page = "dashboard", arg] = (location.hash || "#/dashboard").split("/");
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === page));
  if (!apiKey()) {
    app.replaceChildren(h("div", { class: "card" }, h("h1", {}, "Welcome"), h("p", {}, "Enter an API key with the qa scope (top right) to start.")));
    return;
  }
  try {
    if (page === "call" && arg) await callPage(decodeURIComponent(arg));
    else if (page === "queue") await queuePage();
    else if (page === "live") await livePage();
    else await dashboard();
  } catch (e) {
    showError(e.message);
  }
}

window.addEventListener("hashchange", route);
setupKeyForm();
route();
