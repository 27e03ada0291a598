// The Flock dashboard: agent graph, live events (SSE over fetch), publish form, workflow lineage.
// Plain browser JavaScript: no build step, no dependencies, no requests beyond this server.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const KEY = "flock-api-key";
  const $ = (selector) => document.querySelector(selector);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let types = {};
  let currentLineage = null;
  let lineageTimer = null;

  // -- HTTP ------------------------------------------------------------------------------------------

  function headers(extra) {
    const result = Object.assign({ Accept: "application/json" }, extra || {});
    const key = localStorage.getItem(KEY);
    if (key) result.Authorization = "Bearer " + key;
    return result;
  }

  async function api(path, options) {
    const init = Object.assign({}, options || {});
    init.headers = headers(init.body ? { "Content-Type": "application/json" } : {});
    const response = await fetch(path, init);
    if (response.status === 401) askForKey();
    const body = await response.json().catch(() => ({}));
    return { status: response.status, ok: response.ok, body: body };
  }

  function askForKey() {
    $("#key-form").hidden = false;
    setStatus("unauthorized", "API key needed");
  }

  function setStatus(state, text) {
    const status = $("#stream-status");
    status.dataset.state = state;
    status.textContent = text;
  }

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function short(id) {
    return String(id).slice(-8);
  }

  // -- graphs ----------------------------------------------------------------------------------------

  // nodes: [{id, label, cls}], edges: [[from, to]]; layered left to right by shortest distance from sources.
  function drawGraph(svg, nodes, edges, onClick) {
    svg.replaceChildren();
    const incoming = new Map(nodes.map((n) => [n.id, 0]));
    const next = new Map(nodes.map((n) => [n.id, []]));
    for (const [from, to] of edges) {
      if (!next.has(from) || !incoming.has(to)) continue;
      next.get(from).push(to);
      incoming.set(to, incoming.get(to) + 1);
    }
    const rank = new Map();
    let frontier = nodes.filter((n) => incoming.get(n.id) === 0).map((n) => n.id);
    if (frontier.length === 0 && nodes.length) frontier = [nodes[0].id];
    for (let depth = 0; frontier.length; depth++) {
      frontier.forEach((id) => rank.set(id, depth));
      frontier = [...new Set(frontier.flatMap((id) => next.get(id)))].filter((id) => !rank.has(id));
    }
    nodes.forEach((n) => rank.has(n.id) || rank.set(n.id, 0));
    const columns = new Map();
    const position = new Map();
    for (const node of nodes) {
      const r = rank.get(node.id);
      const row = columns.get(r) || 0;
      columns.set(r, row + 1);
      position.set(node.id, { x: 10 + r * 190, y: 10 + row * 50 });
    }
    const width = 200 + 190 * Math.max(0, ...rank.values());
    const height = 60 + 50 * Math.max(0, ...[...columns.values()].map((c) => c - 1));
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const marker = document.createElementNS(SVG, "defs");
    marker.innerHTML = '<marker id="arrow-' + svg.id + '" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" ' +
      'markerHeight="6" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#98a2b3"/></marker>';
    svg.appendChild(marker);
    for (const [from, to] of edges) {
      const a = position.get(from);
      const b = position.get(to);
      if (!a || !b) continue;
      const line = document.createElementNS(SVG, "line");
      line.setAttribute("x1", a.x + 150);
      line.setAttribute("y1", a.y + 15);
      line.setAttribute("x2", b.x);
      line.setAttribute("y2", b.y + 15);
      line.setAttribute("marker-end", `url(#arrow-${svg.id})`);
      svg.appendChild(line);
    }
    for (const node of nodes) {
      const p = position.get(node.id);
      const group = document.createElementNS(SVG, "g");
      group.setAttribute("class", node.cls);
      group.dataset.id = node.id;
      const box = document.createElementNS(SVG, "rect");
      box.setAttribute("x", p.x);
      box.setAttribute("y", p.y);
      box.setAttribute("width", 150);
      box.setAttribute("height", 30);
      box.setAttribute("rx", node.cls.startsWith("type") ? 12 : 2);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", p.x + 8);
      label.setAttribute("y", p.y + 19);
      label.textContent = node.label.length > 22 ? node.label.slice(0, 21) + "…" : node.label;
      const title = document.createElementNS(SVG, "title");
      title.textContent = node.title || node.label;
      group.append(box, label, title);
      if (onClick) group.addEventListener("click", () => onClick(node));
      svg.appendChild(group);
    }
  }

  async function loadAgents() {
    const { ok, body } = await api("/api/v1/agents");
    if (!ok) return;
    const nodes = new Map();
    const edges = [];
    const typeNode = (name) => nodes.set("type:" + name, { id: "type:" + name, label: name, cls: "type" });
    for (const agent of body.agents) {
      const id = "agent:" + agent.name;
      const tenant = agent.tenant ? ` tenant=${agent.tenant}` : "";
      const labels = agent.labels.length ? ` labels=${agent.labels.join(",")}` : "";
      nodes.set(id, { id: id, label: agent.name, cls: "agent", title: (agent.description || agent.name) + tenant + labels });
      for (const subscription of agent.subscriptions) {
        subscription.types.forEach((t) => { typeNode(t); edges.push(["type:" + t, id]); });
      }
      for (const group of agent.output_groups) {
        group.types.forEach((t) => { typeNode(t); edges.push([id, "type:" + t]); });
      }
    }
    $("#agent-empty").hidden = body.agents.length > 0;
    drawGraph($("#agent-graph"), [...nodes.values()], edges);
  }

  // -- live events -----------------------------------------------------------------------------------

  function describe(kind, data) {
    if (kind === "artifact_published") {
      const a = data.artifact;
      return `${a.type} ${short(a.id)} by ${a.produced_by}`;
    }
    if (kind === "activation_started") return `${data.agent} started on ${data.input_ids.map(short).join(", ")}`;
    if (kind === "activation_finished") return `${data.agent} published ${data.output_ids.map(short).join(", ") || "nothing"}`;
    if (kind === "activation_failed") return `${data.agent} failed: ${data.error_type}: ${data.message}`;
    if (kind === "approval_requested") return `${data.agent} holds ${data.held} output(s) for your approval`;
    if (kind === "approval_decided") return `${data.agent}'s held outputs ${data.outcome} by ${data.by}`;
    if (kind === "lagged") return `${data.dropped} events dropped (${data.dropped_tokens || 0} of them tokens; client too slow)`;
    return kind;
  }

  function addEvent(kind, data) {
    const cid = data.correlation_id || (data.artifact && data.artifact.correlation_id);
    const item = el("li", { "data-kind": kind });
    const time = (data.at || new Date().toISOString()).slice(11, 23);
    item.append(el("span", {}, `${time} ${kind} `), el("span", { class: "what" }, describe(kind, data)));
    if (cid) {
      const link = el("a", { "data-cid": cid, title: "show this workflow" }, ` [${short(cid)}]`);
      link.addEventListener("click", () => showLineage(cid));
      item.append(link);
    }
    const feed = $("#event-feed");
    feed.prepend(item);
    while (feed.children.length > 300) feed.lastChild.remove();
    if (cid && cid === currentLineage) {
      clearTimeout(lineageTimer);
      lineageTimer = setTimeout(() => showLineage(cid), 150);
    }
  }

  // -- live text of running activations: one box per activation, gone when it ends ----------------------

  const RUNNING_CHARS = 4000;

  function runningBox(data) {
    let box = document.querySelector(`#running [data-work-key="${CSS.escape(data.work_key)}"]`);
    if (!box) {
      box = el("div", { class: "running", "data-work-key": data.work_key, "data-agent": data.agent });
      box.append(el("strong", {}, data.agent), el("span", { class: "attempt" }, ""), el("pre", {}, ""));
      $("#running").append(box);
    }
    return box;
  }

  function trackRunning(kind, data) {
    if (kind === "activation_started") runningBox(data);
    else if (kind === "activation_finished" || kind === "activation_failed") {
      const box = document.querySelector(`#running [data-work-key="${CSS.escape(data.work_key)}"]`);
      if (box) box.remove();
    } else if (kind === "token_streamed") {
      const box = runningBox(data);
      const pre = box.querySelector("pre");
      if (String(data.attempt || 0) !== (box.dataset.attempt || "0")) {  // a repair attempt starts afresh
        box.dataset.attempt = String(data.attempt);
        box.querySelector(".attempt").textContent = ` (repair ${data.attempt})`;
        pre.textContent = "";
      }
      pre.textContent = (pre.textContent + data.text).slice(-RUNNING_CHARS);
      pre.scrollTop = pre.scrollHeight;
      return true;
    }
    $("#running-empty").hidden = $("#running").children.length > 0;
    return false;
  }

  function handleFrame(frame) {
    let kind = "message";
    const data = [];
    for (const line of frame.split("\n")) {
      if (line.startsWith("event:")) kind = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (!data.length) return;
    const parsed = JSON.parse(data.join("\n"));
    // the stream names a request only to those who may decide it; a lag may have dropped such an event
    if (kind.startsWith("approval_") || kind === "lagged") loadApprovals().catch(() => undefined);
    if (kind === "activation_failed") loadDeadLetters().catch(() => undefined);
    if (!trackRunning(kind, parsed)) addEvent(kind, parsed);  // tokens go to their box, not to the feed
  }

  async function streamEvents() {
    for (;;) {
      try {
        const response = await fetch("/api/v1/events?tokens=true", { headers: headers({ Accept: "text/event-stream" }) });
        if (response.status === 401) {
          askForKey();
          await sleep(3000);
          continue;
        }
        if (response.ok && response.body) {
          setStatus("live", "live");
          loadApprovals().catch(() => undefined);  // what was requested or decided while not connected
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            let end;
            while ((end = buffer.indexOf("\n\n")) >= 0) {
              handleFrame(buffer.slice(0, end));
              buffer = buffer.slice(end + 2);
            }
          }
        }
      } catch (error) {
        // the connection dropped (server restart, network): reconnect below
      }
      setStatus("reconnecting", "reconnecting…");
      await sleep(1000);
    }
  }

  // -- publish form ----------------------------------------------------------------------------------

  function resolve(schema, root) {
    let current = schema || {};
    let nullable = false;
    for (let i = 0; i < 10; i++) {
      if (current.$ref) {
        current = (root.$defs || {})[current.$ref.split("/").pop()] || {};
      } else if (current.anyOf) {
        nullable = nullable || current.anyOf.some((s) => s.type === "null");
        const rest = current.anyOf.filter((s) => s.type !== "null");
        if (rest.length !== 1) break;
        current = Object.assign({}, rest[0], { default: current.default, description: current.description });
      } else if (current.allOf && current.allOf.length === 1) {
        current = current.allOf[0];
      } else break;
    }
    return { schema: current, nullable: nullable };
  }

  function inputFor(name, schema, root, required) {
    const { schema: s } = resolve(schema, root);
    const attributes = { name: name, "data-field": name };
    let input;
    let kind;
    if (Array.isArray(s.enum)) {
      kind = "enum";
      input = el("select", attributes);
      if (!required) input.append(el("option", { value: "" }, ""));
      s.enum.forEach((v) => input.append(el("option", { value: JSON.stringify(v) }, String(v))));
    } else if (s.type === "boolean") {
      kind = "boolean";
      input = el("input", Object.assign({ type: "checkbox" }, attributes));
    } else if (s.type === "integer" || s.type === "number") {
      kind = s.type;
      input = el("input", Object.assign({ type: "number", step: s.type === "integer" ? "1" : "any" }, attributes));
    } else if (s.type === "string") {
      kind = "string";
      input = el("input", Object.assign({ type: "text" }, attributes));
    } else if (s.type === "array" && resolve(s.items, root).schema.type === "string") {
      kind = "strings";
      input = el("textarea", Object.assign({ placeholder: "one per line" }, attributes));
    } else {
      kind = "json";
      input = el("textarea", Object.assign({ placeholder: "JSON" }, attributes));
    }
    input.dataset.kind = kind;
    const initial = schema.default !== undefined ? schema.default : s.default;
    if (initial !== undefined && initial !== null) {
      if (kind === "boolean") input.checked = Boolean(initial);
      else if (kind === "enum") input.value = JSON.stringify(initial);
      else if (kind === "strings") input.value = initial.join("\n");
      else if (kind === "json") input.value = JSON.stringify(initial, null, 2);
      else input.value = String(initial);
    }
    return input;
  }

  function renderFields() {
    const name = $("#publish-type").value;
    const container = $("#publish-fields");
    container.replaceChildren();
    const schema = types[name];
    if (!schema) return;
    const required = new Set(schema.required || []);
    for (const [field, fieldSchema] of Object.entries(schema.properties || {})) {
      const title = fieldSchema.title || field.charAt(0).toUpperCase() + field.slice(1).replaceAll("_", " ");
      const label = el("label", { "data-field-label": field }, `${title}${required.has(field) ? " *" : ""} `);
      label.append(inputFor(field, fieldSchema, schema, required.has(field)));
      if (fieldSchema.description) label.title = fieldSchema.description;
      container.append(label);
    }
  }

  function readValue(input) {
    const raw = input.value;
    switch (input.dataset.kind) {
      case "boolean": return input.checked;
      case "enum": return raw === "" ? undefined : JSON.parse(raw);
      case "integer": case "number": return raw === "" ? undefined : Number(raw);
      case "strings": return raw.trim() === "" ? undefined : raw.split("\n").map((s) => s.trim()).filter(Boolean);
      case "json": return raw.trim() === "" ? undefined : JSON.parse(raw);
      default: return raw === "" ? undefined : raw;
    }
  }

  function showResult(ok, text, details) {
    const result = $("#publish-result");
    result.replaceChildren(el("p", { class: ok ? "ok" : "bad" }, text));
    for (const d of details || []) result.append(el("div", { class: "field-error" }, `${d.field}: ${d.message}`));
  }

  async function publish(event) {
    event.preventDefault();
    document.querySelectorAll("#publish-fields .invalid").forEach((n) => n.classList.remove("invalid"));
    const payload = {};
    for (const input of document.querySelectorAll("#publish-fields [data-field]")) {
      try {
        const value = readValue(input);
        if (value !== undefined) payload[input.dataset.field] = value;
      } catch (error) {
        input.classList.add("invalid");
        showResult(false, `${input.dataset.field}: not valid JSON`);
        return;
      }
    }
    const body = { type: $("#publish-type").value, payload: payload };
    const cid = $("#publish-correlation").value.trim();
    const tags = $("#publish-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
    if (cid) body.correlation_id = cid;
    if (tags.length) body.tags = tags;
    const response = await api("/api/v1/artifacts", { method: "POST", body: JSON.stringify(body) });
    if (response.ok) {
      const a = response.body;
      showResult(true, `Published ${a.type} ${short(a.id)} in workflow ${short(a.correlation_id)}`);
      $("#publish-result").dataset.artifactId = a.id;
      showLineage(a.correlation_id);
      return;
    }
    const error = response.body.error || { message: `HTTP ${response.status}` };
    for (const d of error.details || []) {
      const input = document.querySelector(`#publish-fields [data-field="${CSS.escape(d.field.split(".")[1] || "")}"]`);
      if (input) input.classList.add("invalid");
    }
    showResult(false, error.message, error.details);
  }

  async function loadTypes() {
    const { ok, body } = await api("/api/v1/types");
    if (!ok) return;
    const select = $("#publish-type");
    select.replaceChildren();
    types = {};
    for (const t of body.types) {
      if (t.name === "WorkflowError" || t.name === "ApprovalRejected") continue;
      types[t.name] = t.schema;
      select.append(el("option", { value: t.name }, t.name));
    }
    renderFields();
  }

  // -- lineage ---------------------------------------------------------------------------------------

  // What is left of a workflow's budget, and the limit that stopped it: " · budget left: max_calls 0 (...)".
  function budgetText(budget) {
    if (!budget) return "";
    const left = Object.entries(budget.remaining).map(([name, value]) => `${name} ${+value.toFixed(4)}`).join(", ");
    const stopped = budget.exceeded ? ` (stopped: ${budget.exceeded.name} reached)` : "";
    return ` · budget left: ${left}${stopped}`;
  }

  async function showLineage(cid) {
    currentLineage = cid;
    $("#lineage-cid").value = cid;
    $("#workflow-controls").hidden = false;
    const query = new URLSearchParams({ correlation_id: cid, limit: "500" });
    const [listing, status] = await Promise.all([api("/api/v1/artifacts?" + query), api(`/api/v1/correlations/${encodeURIComponent(cid)}`)]);
    if (cid !== currentLineage) return;
    const s = status.body;
    $("#lineage-status").textContent = status.ok
      ? `${s.state}: ${s.artifact_count} artifacts, ${s.error_count} errors, ${s.pending_activations} pending` +
        ` · ${s.usage.calls} model calls, $${s.usage.cost.toFixed(4)}` + budgetText(s.budget)
      : "no visible artifacts in this workflow";
    const items = listing.ok ? listing.body.items : [];
    const rows = items.map((a) => {
      const row = el("tr", { "data-type": a.type, "data-id": a.id, "data-produced-by": a.produced_by });
      row.append(
        el("td", {}, a.created_at.slice(11, 23)),
        el("td", {}, a.type),
        el("td", {}, a.produced_by),
        el("td", {}, short(a.id)),
        el("td", {}, a.consumed_from.map(short).join(", ")),
        el("td", {}, JSON.stringify(a.payload).slice(0, 160)),
      );
      return row;
    });
    $("#lineage-table tbody").replaceChildren(...rows);
    const nodes = items.map((a) => ({
      id: a.id,
      label: `${a.type} ${short(a.id)}`,
      title: `${a.type} by ${a.produced_by}\n${JSON.stringify(a.payload)}`,
      cls: a.type === "WorkflowError" || a.type === "ApprovalRejected" ? "artifact error" : "artifact",
    }));
    const edges = items.flatMap((a) => a.consumed_from.map((source) => [source, a.id]));
    drawGraph($("#lineage-graph"), nodes, edges);
  }

  // -- control: cancel, pause, resume; approvals -------------------------------------------------------

  function explain(response) {
    return response.ok ? "done" : (response.body.error && response.body.error.message) || `failed (${response.status})`;
  }

  async function control(action) {
    const cid = currentLineage;
    if (!cid) return;
    const init = { method: "POST" };
    if (action === "cancel") init.body = JSON.stringify({ reason: $("#cancel-reason").value.trim() || "cancelled from the dashboard" });
    const response = await api(`/api/v1/correlations/${encodeURIComponent(cid)}/${action}`, init);
    const result = $("#control-result");
    result.dataset.action = action;
    result.dataset.ok = String(response.ok);
    result.textContent = `${action} ${short(cid)}: ${explain(response)}`;
    showLineage(cid);
  }

  async function controlBoard(action) {
    const response = await api(`/api/v1/board/${action}`, { method: "POST" });
    const result = $("#control-result");
    result.dataset.action = "board-" + action;
    result.dataset.ok = String(response.ok);
    result.textContent = `${action} every workflow: ${explain(response)}`;
  }

  function approvalRow(request) {
    const row = el("tr", { "data-approval-id": request.id, "data-agent": request.agent });
    const held = request.artifacts.map((a) => `${a.type} ${JSON.stringify(a.payload)}`).join("\n");
    const link = el("a", {}, short(request.correlation_id));
    link.addEventListener("click", () => showLineage(request.correlation_id));
    const workflow = el("td", {});
    workflow.append(link);
    const reason = el("input", { "data-role": "reason", placeholder: "reason", size: "12" });
    const decision = el("td", {});
    decision.append(reason);
    for (const verb of ["approve", "reject"]) {
      const button = el("button", { type: "button", "data-action": verb }, verb === "approve" ? "Approve" : "Reject");
      button.addEventListener("click", () => decide(request.id, verb, reason.value.trim()));
      decision.append(button);
    }
    row.append(el("td", {}, request.agent), workflow, el("td", {}, held.slice(0, 300)), decision);
    return row;
  }

  let approvalsLoads = 0;

  async function loadApprovals() {
    const load = ++approvalsLoads;
    const response = await api("/api/v1/approvals");
    // a poll and a reload after a decision may overlap: an older answer must not undo a newer one
    if (!response.ok || load !== approvalsLoads) return;
    const requests = response.body.approvals;
    const rows = $("#approvals-table tbody");
    const shown = [...rows.children].map((r) => r.dataset.approvalId).join();
    if (shown !== requests.map((r) => r.id).join()) {
      const reason = (row) => row.querySelector('input[data-role="reason"]');
      const typed = new Map([...rows.children].map((r) => [r.dataset.approvalId, reason(r).value]));
      const fresh = requests.map(approvalRow);
      for (const row of fresh) reason(row).value = typed.get(row.dataset.approvalId) || "";  // keep what was typed
      rows.replaceChildren(...fresh);
    }
    $("#approvals-empty").hidden = requests.length > 0;
  }

  async function decide(id, verb, reason) {
    const init = { method: "POST", body: JSON.stringify(reason ? { reason: reason } : {}) };
    const response = await api(`/api/v1/approvals/${encodeURIComponent(id)}/${verb}`, init);
    const result = $("#approval-result");
    result.dataset.outcome = response.ok ? response.body.outcome : "refused";
    result.textContent = response.ok ? `${response.body.outcome} by ${response.body.by}` : explain(response);
    await loadApprovals();
  }

  // While the event stream is live, its approval events reload the table; without it, a poll does.
  async function pollApprovals() {
    for (;;) {
      if ($("#stream-status").dataset.state !== "live") await loadApprovals().catch(() => undefined);
      await sleep(1500);
    }
  }

  // -- dead letters: work that failed for good, with Replay ------------------------------------------------

  function deadLetterRow(letter) {
    const row = el("tr", { "data-key": letter.key, "data-agent": letter.agent });
    const link = el("a", {}, short(letter.correlation_id));
    link.addEventListener("click", () => showLineage(letter.correlation_id));
    const workflow = el("td", {});
    workflow.append(link);
    const failed = letter.failed_at ? new Date(letter.failed_at).toLocaleString() : "";
    const replay = el("button", { type: "button", "data-action": "replay" }, "Replay");
    replay.addEventListener("click", () => replayDeadLetters(`/api/v1/dead-letters/${encodeURIComponent(letter.key)}/replay`));
    const action = el("td", {});
    action.append(replay);
    row.append(
      el("td", {}, letter.agent), workflow, el("td", {}, String(letter.error || "").slice(0, 300)),
      el("td", {}, String(letter.attempts)), el("td", {}, failed), action,
    );
    return row;
  }

  let deadLetterLoads = 0;

  async function loadDeadLetters() {
    const load = ++deadLetterLoads;
    const response = await api("/api/v1/dead-letters");
    if (!response.ok || load !== deadLetterLoads) return;  // an older answer must not undo a newer one
    const letters = response.body.items;
    const rows = $("#dead-letters-table tbody");
    const shown = [...rows.children].map((r) => r.dataset.key).join();
    if (shown !== letters.map((d) => d.key).join()) rows.replaceChildren(...letters.map(deadLetterRow));
    $("#dead-letters-empty").hidden = letters.length > 0;
    $("#dead-letters-replay-all").hidden = letters.length < 2;
  }

  async function replayDeadLetters(path) {
    const response = await api(path, { method: "POST" });
    const result = $("#dead-letter-result");
    result.dataset.ok = String(response.ok);
    result.textContent = response.ok ? `replayed ${response.body.replayed}` : explain(response);
    await loadDeadLetters();
  }

  // A failed activation may have become a dead letter; a replayed one may fail again: poll as well.
  async function pollDeadLetters() {
    for (;;) {
      await loadDeadLetters().catch(() => undefined);
      await sleep(3000);
    }
  }

  // -- start -----------------------------------------------------------------------------------------

  function start() {
    $("#key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      localStorage.setItem(KEY, $("#api-key").value.trim());
      $("#key-form").hidden = true;
      loadAgents();
      loadTypes();
    });
    $("#publish-type").addEventListener("change", renderFields);
    $("#publish-form").addEventListener("submit", publish);
    $("#lineage-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const cid = $("#lineage-cid").value.trim();
      if (cid) showLineage(cid);
    });
    for (const action of ["cancel", "pause", "resume"]) {
      $(`#workflow-${action}`).addEventListener("click", () => control(action));
    }
    $("#board-pause").addEventListener("click", () => controlBoard("pause"));
    $("#board-resume").addEventListener("click", () => controlBoard("resume"));
    $("#dead-letters-replay-all").addEventListener("click", () => replayDeadLetters("/api/v1/dead-letters/replay"));
    pollApprovals();
    pollDeadLetters();
    loadAgents();
    loadTypes();
    streamEvents();
    document.body.dataset.ready = "true";
  }

  start();
})();
