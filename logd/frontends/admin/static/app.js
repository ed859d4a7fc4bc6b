// The logd web console: plain JavaScript, no build step, no outside files. Pages are
// chosen by the URL's hash (#/topics, #/topic/NAME, #/messages/NAME, #/tail/NAME,
// #/groups, #/group/ID, #/schemas, #/schema/SUBJECT, #/security) and built from the admin listener's JSON API (/api/).
// Data is put into the page as text (textContent), never as HTML.
"use strict";

const main = document.getElementById("main");
let timers = [];  // polling of the page shown; cleared when the page changes
let tailing = null;  // the live tail's state, when one runs

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "on") for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false && v !== null && v !== undefined) el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

// The page's content: nested arrays flattened, null/false children left out.
function render(...children) {
  main.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}

function toast(text, error) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = error ? "error" : "";
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, error ? 8000 : 3000);
}

async function api(path, options) {
  const init = Object.assign({ headers: { "Content-Type": "application/json" } }, options || {});
  if (init.json !== undefined) { init.body = JSON.stringify(init.json); delete init.json; }
  const answer = await fetch(path, init);
  const text = await answer.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = { message: text }; }
  if (!answer.ok) {
    const err = new Error((body && body.message) || answer.statusText);
    err.status = answer.status;
    throw err;
  }
  return body;
}

const enc = encodeURIComponent;
const fmtBytes = (n) => {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
};
const fmtTime = (ms) => new Date(ms).toISOString().replace("T", " ").replace("Z", "");
const table = (heads, rows, attrs) => h("table", attrs || {},
  h("thead", {}, h("tr", {}, heads.map((x) => h("th", { class: /^#|lag|bytes|offset|watermark|start|members|partitions|rf$/i.test(x) ? "num" : null }, x)))),
  h("tbody", {}, rows));
const card = (label, value, cls, id) => h("div", { class: "card" },
  h("div", { class: "label" }, label), h("div", { class: "value " + (cls || ""), "data-testid": id }, value));

function shownValue(value, kind, schemaId) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "null");
  if (schemaId !== undefined) {  // framed with a registry schema id: decoded here when known
    const tag = h("a", { class: "tag", href: "#/schemas?id=" + schemaId, "data-testid": "schema-tag" },
      `${kind === "hex" ? "undecoded" : kind} · schema ${schemaId}`);
    return h("div", {}, tag, kind === "hex" ? h("pre", { title: "binary, as hex" }, value)
      : h("pre", {}, JSON.stringify(value, null, 2)));
  }
  if (kind === "json") return h("pre", {}, JSON.stringify(value, null, 2));
  if (kind === "hex") return h("pre", { title: "binary, as hex" }, value);
  return h("pre", {}, value);
}

// -- overview ---------------------------------------------------------------------------

const spark = { points: [], last: null };

function sparkline(points) {
  const w = 600, hgt = 80, max = Math.max(1, ...points);
  const xs = points.map((p, i) => `${(i / Math.max(1, points.length - 1)) * w},${hgt - (p / max) * (hgt - 6) - 3}`);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("width", w); svg.setAttribute("height", hgt);
  svg.setAttribute("data-testid", "sparkline");
  const line = document.createElementNS("http://www.w3.org/2000/svg", "polyline");
  line.setAttribute("points", xs.join(" ")); line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#2457c5"); line.setAttribute("stroke-width", "2");
  svg.append(line);
  return svg;
}

async function overview() {
  const c = await api("/api/cluster");
  document.getElementById("broker").textContent = `broker ${c.node_id} · cluster ${c.cluster_id}`;
  const now = Date.now();
  if (spark.last) {
    const rate = (c.records_produced - spark.last.n) / Math.max(0.001, (now - spark.last.t) / 1000);
    spark.points.push(Math.max(0, rate));
    if (spark.points.length > 60) spark.points.shift();
  }
  spark.last = { n: c.records_produced, t: now };
  const rate = spark.points.length ? spark.points[spark.points.length - 1] : 0;
  render(
    h("h1", {}, "Cluster overview"),
    h("div", { class: "cards" },
      card("Health", c.healthy ? "healthy" : "unhealthy", c.healthy ? "ok" : "bad", "health"),
      card("Brokers", `${c.brokers.filter((b) => b.alive).length} / ${c.brokers.length}`, "", "brokers"),
      card("Controller", c.controller_id >= 0 ? c.controller_id : "none", c.controller_id >= 0 ? "" : "bad"),
      card("Topics", c.topics, "", "topics"), card("Partitions", c.partitions),
      card("Under-replicated", c.under_replicated, c.under_replicated ? "warn" : ""),
      card("Offline", c.leaderless, c.leaderless ? "bad" : ""),
      card("Disk free", `${fmtBytes(c.disk_free_bytes)} of ${fmtBytes(c.disk_total_bytes)}`)),
    h("h2", {}, `Records produced per second on this broker: ${rate.toFixed(1)}`),
    sparkline(spark.points.length ? spark.points : [0]),
    h("h2", {}, "Brokers"),
    table(["Node", "Address", "Rack", "State", "Role"], c.brokers.map((b) => h("tr", {},
      h("td", {}, b.node_id), h("td", {}, `${b.host}:${b.port}`), h("td", {}, b.rack || "–"),
      h("td", { class: b.alive ? "ok" : "bad" }, b.alive ? "alive" : "down"),
      h("td", {}, [b.node_id === c.controller_id ? "controller" : "", b.node_id === c.node_id ? " (this console)" : ""].join(""))))),
  );
  const shown = location.hash;
  timers.push(setTimeout(() => { if (location.hash === shown) route(); }, 2000));
}

// -- topics -----------------------------------------------------------------------------

async function topics() {
  const internal = new URLSearchParams(location.hash.split("?")[1] || "").get("internal") === "true";
  const started = performance.now();
  const list = await api("/api/topics" + (internal ? "?internal=true" : ""));
  const name = h("input", { name: "name", placeholder: "name", required: true, "data-testid": "new-topic-name" });
  const parts = h("input", { name: "partitions", type: "number", min: 1, value: 3, style: "width:90px" });
  const rf = h("input", { name: "rf", type: "number", min: 1, value: 1, style: "width:70px" });
  const form = h("form", { class: "bar", on: { submit: async (e) => {
    e.preventDefault();
    try {
      await api("/api/topics", { method: "POST", json: { name: name.value, partitions: +parts.value, replication_factor: +rf.value } });
      toast(`topic ${name.value} created`);
      location.hash = "#/topic/" + enc(name.value);
    } catch (err) { toast(err.message, true); }
  } } },
  h("label", {}, "New topic", name), h("label", {}, "Partitions", parts),
  h("label", {}, "Replication factor", rf), h("button", { type: "submit", "data-testid": "create-topic" }, "Create"));
  render(
    h("h1", {}, `Topics (${list.length})`), form,
    h("div", { class: "row" }, h("a", { href: internal ? "#/topics" : "#/topics?internal=true" }, internal ? "hide internal topics" : "show internal topics")),
    table(["Name", "Partitions", "RF", "Under-replicated", "Bytes here"], list.map((t) => h("tr", { "data-topic": t.name },
      h("td", {}, h("a", { href: "#/topic/" + enc(t.name) }, t.name), t.internal ? h("span", { class: "tag" }, "internal") : null),
      h("td", { class: "num" }, t.partitions), h("td", { class: "num" }, t.replication_factor),
      h("td", { class: "num " + (t.under_replicated ? "warn" : "") }, t.under_replicated),
      h("td", { class: "num" }, fmtBytes(t.bytes_here)))), { "data-testid": "topics-table" }),
    h("p", { class: "muted", "data-testid": "render-ms" }, `rendered in ${(performance.now() - started).toFixed(0)} ms`),
  );
}

async function topic(name) {
  const t = await api("/api/topics/" + enc(name));
  const total = h("input", { type: "number", min: t.partitions.length + 1, value: t.partitions.length + 1, style: "width:90px" });
  const key = h("input", { placeholder: "retention.ms" }), value = h("input", { placeholder: "value" });
  const act = (fn) => async (e) => { e.preventDefault(); try { await fn(); route(); } catch (err) { toast(err.message, true); } };
  render(
    h("h1", {}, `Topic ${t.name}`),
    h("div", { class: "row" },
      h("a", { href: "#/messages/" + enc(name) }, h("button", { type: "button", class: "secondary", "data-testid": "browse" }, "Browse messages")),
      h("a", { href: "#/tail/" + enc(name) }, h("button", { type: "button", class: "secondary" }, "Live tail")),
      h("button", { type: "button", class: "danger", "data-testid": "delete-topic", on: { click: act(async () => {
        if (!confirm(`Delete topic ${name} and all its records?`)) return;
        await api("/api/topics/" + enc(name), { method: "DELETE" });
        toast(`topic ${name} deleted`); location.hash = "#/topics";
      }) } }, "Delete topic")),
    h("h2", {}, `Partitions (${t.partitions.length})`),
    table(["#", "Leader", "Epoch", "Replicas", "ISR", "Log start", "High watermark", "Bytes here"],
      t.partitions.map((p) => h("tr", {},
        h("td", { class: "num" }, p.partition), h("td", { class: p.leader < 0 ? "bad" : "" }, p.leader < 0 ? "none" : p.leader),
        h("td", {}, p.epoch), h("td", {}, p.replicas.join(", ")),
        h("td", { class: p.isr.length < p.replicas.length ? "warn" : "" }, p.isr.join(", ")),
        h("td", { class: "num" }, p.log_start_offset), h("td", { class: "num" }, p.high_watermark),
        h("td", { class: "num" }, fmtBytes(p.bytes_here))))),
    h("form", { class: "bar", on: { submit: act(async () => {
      await api(`/api/topics/${enc(name)}/partitions`, { method: "POST", json: { total: +total.value } });
      toast("partitions added (keys now map to other partitions)");
    }) } }, h("label", {}, "Total partitions", total), h("button", {}, "Add partitions"),
    h("span", { class: "muted" }, "Adding partitions remaps keys to partitions.")),
    h("h2", {}, "Configs"),
    h("form", { class: "bar", on: { submit: act(async () => {
      await api(`/api/topics/${enc(name)}/configs`, { method: "PUT", json: { set: { [key.value]: value.value } } });
      toast(`${key.value} = ${value.value}`);
    }) } }, h("label", {}, "Config", key), h("label", {}, "Value", value), h("button", {}, "Set")),
    table(["Name", "Value", "Source", ""], t.configs.map((c) => h("tr", {},
      h("td", {}, c.name), h("td", {}, c.value), h("td", { class: "muted" }, c.default ? "default" : "topic"),
      h("td", {}, c.default ? "" : h("button", { class: "secondary", on: { click: act(async () => {
        await api(`/api/topics/${enc(name)}/configs`, { method: "PUT", json: { delete: [c.name] } });
      }) } }, "Reset"))))),
  );
}

// -- messages ---------------------------------------------------------------------------

function recordRows(records) {
  return records.map((r) => h("tr", { "data-offset": r.offset },
    h("td", { class: "num" }, r.partition), h("td", { class: "num" }, r.offset),
    h("td", {}, fmtTime(r.timestamp)), h("td", { "data-testid": "record-key" }, shownValue(r.key, r.key_format, r.key_schema_id)),
    h("td", { "data-testid": "record-value" }, shownValue(r.value, r.value_format, r.value_schema_id)),
    h("td", {}, r.headers.map((x) => h("span", { class: "tag" }, `${x.key}=${typeof x.value === "string" ? x.value : JSON.stringify(x.value)}`)))));
}

async function messages(name) {
  const t = await api("/api/topics/" + enc(name));
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const field = (n, attrs) => h("input", Object.assign({ name: n, value: q.get(n) || "" }, attrs));
  const partition = h("select", { name: "partition" }, h("option", { value: "" }, "all"),
    t.partitions.map((p) => h("option", { value: p.partition, selected: q.get("partition") === String(p.partition) }, p.partition)));
  const from = h("select", { name: "from" }, ["newest", "oldest", "offset", "time"].map((m) =>
    h("option", { value: m, selected: (q.get("from") || "newest") === m }, m)));
  const fmt = h("select", { name: "format" }, ["auto", "json", "text", "hex"].map((m) =>
    h("option", { value: m, selected: (q.get("format") || "auto") === m }, m)));
  const inputs = { partition, from, format: fmt, offset: field("offset", { type: "number", min: 0, style: "width:100px" }),
    timestamp: field("timestamp", { placeholder: "2026-01-31T12:00:00Z", style: "width:190px" }),
    key: field("key", { placeholder: "contains", "data-testid": "filter-key" }), value: field("value", { placeholder: "contains" }),
    header: field("header", { placeholder: "k or k=v" }), limit: field("limit", { type: "number", min: 1, max: 500, style: "width:70px" }) };
  const params = () => {
    const p = new URLSearchParams();
    for (const [k, el] of Object.entries(inputs)) if (el.value !== "") p.set(k, el.value);
    return p;
  };
  const form = h("form", { class: "bar", on: { submit: (e) => {
    e.preventDefault();
    location.hash = `#/messages/${enc(name)}?${params()}`;
  } } }, Object.entries(inputs).map(([k, el]) => h("label", {}, k, el)),
  h("button", { type: "submit", "data-testid": "search" }, "Search"));
  const answer = await api(`/api/topics/${enc(name)}/messages?${q}`);
  const download = new URLSearchParams(q); download.set("download", "jsonl");
  render(
    h("h1", {}, "Messages of ", h("a", { href: "#/topic/" + enc(name) }, name)), form,
    h("div", { class: "row" }, h("span", { "data-testid": "result-count" }, `${answer.records.length} record(s)`),
      h("a", { href: `/api/topics/${enc(name)}/messages?${download}`, download: `${name}.jsonl` }, "Download as JSON lines"),
      Object.entries(answer.partitions).filter(([, v]) => v.error).map(([p, v]) => h("span", { class: "warn" }, `partition ${p}: ${v.error}`))),
    table(["Partition", "Offset", "Timestamp", "Key", "Value", "Headers"], recordRows(answer.records), { "data-testid": "messages-table" }),
  );
}

async function tail(name) {
  const t = await api("/api/topics/" + enc(name));
  const partition = h("select", {}, t.partitions.map((p) => h("option", { value: p.partition }, p.partition)));
  const body = h("tbody", {});
  const status = h("span", { class: "muted" }, "stopped");
  const state = { running: false, next: null };
  tailing = state;
  const loop = async () => {
    while (state.running && tailing === state) {
      const p = partition.value;
      const q = state.next === null ? `partition=${p}&from=newest&limit=20` : `partition=${p}&from=offset&offset=${state.next}&wait_ms=5000&limit=100`;
      try {
        const answer = await api(`/api/topics/${enc(name)}/messages?${q}`);
        const pos = answer.partitions[p];
        if (pos && pos.next !== undefined) state.next = pos.next;
        for (const row of recordRows(answer.records)) body.prepend(row);
        while (body.children.length > 500) body.lastChild.remove();
        status.textContent = `tailing partition ${p} at offset ${state.next}`;
      } catch (err) { status.textContent = err.message; await new Promise((r) => setTimeout(r, 2000)); }
    }
  };
  const toggle = h("button", { type: "button", on: { click: () => {
    state.running = !state.running; toggle.textContent = state.running ? "Stop" : "Start";
    if (state.running) loop(); else status.textContent = "stopped";
  } } }, "Start");
  partition.addEventListener("change", () => { state.next = null; body.replaceChildren(); });
  const rows = table(["Partition", "Offset", "Timestamp", "Key", "Value", "Headers"], [], { "data-testid": "tail-table" });
  rows.replaceChild(body, rows.querySelector("tbody"));
  render(h("h1", {}, "Live tail of ", h("a", { href: "#/topic/" + enc(name) }, name)),
    h("div", { class: "row" }, h("label", {}, "Partition ", partition), toggle, status), rows);
  toggle.click();
}

// -- groups -----------------------------------------------------------------------------

async function groups() {
  const started = performance.now();
  const list = await api("/api/groups");
  render(h("h1", {}, `Consumer groups (${list.length})`),
    h("p", { class: "muted" }, "Groups coordinated by this broker; another broker's console shows the others."),
    table(["Group", "State", "Members", "Lag", "Max partition lag"], list.map((g) => h("tr", { "data-group": g.group },
      h("td", {}, h("a", { href: "#/group/" + enc(g.group) }, g.group)), h("td", {}, g.state),
      h("td", { class: "num" }, g.members), h("td", { class: "num", "data-testid": "group-lag" }, g.lag),
      h("td", { class: "num" }, g.lag_max))), { "data-testid": "groups-table" }),
    h("p", { class: "muted", "data-testid": "render-ms" }, `rendered in ${(performance.now() - started).toFixed(0)} ms`));
}

async function group(id) {
  const g = await api("/api/groups/" + enc(id));
  const to = h("select", { "data-testid": "reset-to" }, ["start", "end", "offset", "time"].map((m) => h("option", { value: m }, m)));
  const offset = h("input", { type: "number", min: 0, style: "width:100px" });
  const time = h("input", { placeholder: "unix ms", style: "width:140px" });
  const topicsIn = h("input", { placeholder: "all topics (or a,b)" });
  const plan = h("div", {});
  const request = (dry) => {
    const body = { to: to.value, dry_run: dry };
    if (to.value === "offset") body.offset = +offset.value;
    if (to.value === "time") body.timestamp = +time.value;
    if (topicsIn.value.trim()) body.topics = topicsIn.value.split(",").map((s) => s.trim());
    return body;
  };
  const apply = h("button", { type: "button", class: "danger", disabled: true, "data-testid": "reset-apply", on: { click: async () => {
    try {
      await api(`/api/groups/${enc(id)}/reset`, { method: "POST", json: request(false) });
      toast(`offsets of ${id} reset`); route();
    } catch (err) { toast(err.message, true); }
  } } }, "Apply");
  const dry = h("button", { type: "button", "data-testid": "reset-dry-run", on: { click: async () => {
    try {
      const answer = await api(`/api/groups/${enc(id)}/reset`, { method: "POST", json: request(true) });
      plan.replaceChildren(h("h2", {}, "Dry run: the offsets Apply would commit"),
        table(["Topic", "Partition", "Current", "New"], answer.partitions.map((p) => h("tr", {},
          h("td", {}, p.topic), h("td", { class: "num" }, p.partition), h("td", { class: "num" }, p.current),
          h("td", { class: "num" }, p.new))), { "data-testid": "reset-plan" }));
      apply.disabled = false;
    } catch (err) { toast(err.message, true); }
  } } }, "Dry run");
  render(
    h("h1", {}, `Group ${g.group}`),
    h("div", { class: "cards" }, card("State", g.state, "", "group-state"), card("Members", g.members.length),
      card("Total lag", g.lag, g.lag ? "warn" : "", "group-total-lag"), card("Generation", g.generation)),
    h("h2", {}, "Members"),
    g.members.length ? table(["Member", "Client id", "Host", "Instance"], g.members.map((m) => h("tr", {},
      h("td", {}, m.member_id), h("td", {}, m.client_id), h("td", {}, m.host), h("td", {}, m.instance_id || "–"))))
      : h("p", { class: "muted" }, "No members: the group is empty."),
    h("h2", {}, "Lag per partition"),
    table(["Topic", "Partition", "Committed", "High watermark", "Lag", "Member"], g.partitions.map((p) => h("tr", {},
      h("td", {}, p.topic), h("td", { class: "num" }, p.partition), h("td", { class: "num" }, p.committed),
      h("td", { class: "num" }, p.high_watermark), h("td", { class: "num" }, p.lag === null ? "–" : p.lag),
      h("td", {}, p.member || "–"))), { "data-testid": "lag-table" }),
    h("h2", {}, "Reset offsets"),
    h("p", { class: "muted" }, "Only an empty group (no members) can be moved. Run a dry run first."),
    h("form", { class: "bar", on: { submit: (e) => e.preventDefault() } }, h("label", {}, "To", to),
      h("label", {}, "Offset", offset), h("label", {}, "Time", time), h("label", {}, "Topics", topicsIn), dry, apply),
    plan,
  );
}

// -- schema registry --------------------------------------------------------------------

async function schemas() {
  const s = await api("/api/schemas");
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const id = q.get("id");  // from a decoded record: the subjects using that schema
  const shown = id ? s.subjects.filter((x) => x.ids.includes(Number(id))) : s.subjects;
  render(h("h1", {}, "Schema registry"),
    id ? h("p", {}, `Subjects using schema ${id} · `, h("a", { href: "#/schemas" }, "all subjects")) : null,
    s.enabled ? h("p", { class: "muted" }, `Global compatibility: ${s.compatibility}`)
      : h("p", { class: "muted" }, "The schema registry is not served by this broker (its --registry-listen is off)."),
    table(["Subject", "Versions", "Latest", "Schema id", "Type", "Compatibility"], shown.map((x) => h("tr", {},
      h("td", {}, h("a", { href: "#/schema/" + enc(x.subject) }, x.subject)), h("td", { class: "num" }, x.versions.length),
      h("td", { class: "num" }, x.latest.version), h("td", { class: "num" }, x.latest.id), h("td", {}, x.latest.type),
      h("td", {}, x.compatibility))), { "data-testid": "subjects-table" }));
}

async function schema(subject) {
  const s = await api("/api/schemas/" + enc(subject));
  const pretty = (v) => { try { return JSON.stringify(JSON.parse(v.schema), null, 2); } catch (e) { return v.schema; } };
  render(h("h1", {}, "Subject ", subject),
    h("p", { class: "muted" }, `Compatibility: ${s.compatibility}`),
    table(["Version", "Schema id", "Type", "References"], s.versions.map((v) => h("tr", {},
      h("td", { class: "num" }, v.version), h("td", { class: "num" }, v.id), h("td", {}, v.type),
      h("td", {}, v.references.map((r) => h("span", { class: "tag" }, `${r.name} → ${r.subject} v${r.version}`))))),
      { "data-testid": "versions-table" }),
    s.versions.slice().reverse().map((v) => [h("h2", {}, `Version ${v.version} (id ${v.id})`),
      h("pre", { "data-testid": "schema-text" }, pretty(v))]));
}

// -- security ---------------------------------------------------------------------------

async function security() {
  const s = await api("/api/security");
  render(h("h1", {}, "Users and ACLs"),
    s.enabled ? null : h("p", { class: "muted" }, "Security is not configured on this broker."),
    h("h2", {}, `Users (${s.users.length})`),
    table(["User", "Credentials"], s.users.map((u) => h("tr", {}, h("td", {}, u.name), h("td", {}, u.mechanisms.join(", "))))),
    h("h2", {}, `ACLs (${s.acls.length})`),
    table(["Principal", "Host", "Operation", "Permission", "Resource", "Name", "Pattern"], s.acls.map((a) => h("tr", {},
      h("td", {}, a.principal), h("td", {}, a.host), h("td", {}, a.operation),
      h("td", { class: a.permission === "deny" ? "bad" : "ok" }, a.permission), h("td", {}, a.resource_type),
      h("td", {}, a.name), h("td", {}, a.pattern)))),
    h("p", { class: "muted" }, "Change them with `logd security user …` and `logd security acl …`."));
}

// -- routing ----------------------------------------------------------------------------

const routes = [
  [/^#?\/?$/, overview, "overview"], [/^#\/topics$/, topics, "topics"],
  [/^#\/topic\/(.+)$/, topic, "topics"], [/^#\/messages\/(.+)$/, messages, "topics"],
  [/^#\/tail\/(.+)$/, tail, "topics"], [/^#\/groups$/, groups, "groups"],
  [/^#\/group\/(.+)$/, group, "groups"], [/^#\/security$/, security, "security"],
  [/^#\/schemas$/, schemas, "schemas"], [/^#\/schema\/(.+)$/, schema, "schemas"],
];

async function route() {
  timers.forEach(clearTimeout); timers = [];
  const path = location.hash.split("?")[0] || "#/";
  for (const [re, page, nav] of routes) {
    const m = path.match(re);
    if (!m) continue;
    if (page !== tail) tailing = null;
    document.querySelectorAll("header nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === nav));
    try {
      await page(...m.slice(1).map(decodeURIComponent));
    } catch (err) {
      render(h("h1", {}, "Cannot show this page"), h("p", { class: "bad", "data-testid": "page-error" }, err.message));
    }
    return;
  }
  render(h("h1", {}, "No such page"), h("p", {}, h("a", { href: "#/" }, "Back to the overview")));
}

window.addEventListener("hashchange", route);
route();
