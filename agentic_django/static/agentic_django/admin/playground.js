// The agent playground in admin: POST an intent to the chosen agent as the logged-in user,
// then show its JSON answer, or read a streaming agent's Server-Sent Events as they arrive.
// Whatever the server sends reaches the page through textContent or attributes, never as HTML.
(function () {
  "use strict";

  const configNode = document.getElementById("playground-config");
  const form = document.getElementById("playground-form");
  if (!configNode || !form) return; // no agents, or no agent API: the page says so
  const config = JSON.parse(configNode.textContent);
  const agentsByName = new Map(config.agents.map((agent) => [agent.name, agent]));

  const $ = (id) => document.getElementById(id);
  const select = $("playground-agent");
  const agentInfo = $("playground-agent-info");
  const intentInput = $("playground-intent");
  const sessionInput = $("playground-session");
  const sendButton = $("playground-send");
  const results = $("playground-results");
  const statusLine = $("playground-status");
  const progress = $("playground-progress");
  const links = $("playground-links");
  const approval = $("playground-approval");
  const approvalPrompt = $("playground-approval-prompt");
  const approvalOptions = $("playground-approval-options");
  const approvalNote = $("playground-approval-note");
  const replyBox = $("playground-reply-box");
  const reply = $("playground-reply");
  const replyLines = $("playground-reply-lines");
  const eventsBox = $("playground-events-box");
  const eventList = $("playground-events");
  const bodyBox = $("playground-body-box");
  const body = $("playground-body");

  // Characters of an event's fields shown in its list item.
  const EVENT_DETAIL_CHARS = 2000;

  // The request on screen; sending again aborts it and ignores anything it still reports.
  let current = null;

  function urlFor(template, id) {
    return template.replace(config.placeholder, encodeURIComponent(id));
  }

  function csrfToken() {
    // The form's token works with CSRF_COOKIE_HTTPONLY and CSRF_USE_SESSIONS too.
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function describeAgent() {
    const agent = agentsByName.get(select.value);
    if (!agent) return;
    const parts = [];
    if (agent.description) parts.push(agent.description);
    parts.push("engine: " + agent.engine);
    parts.push(agent.streaming ? "streams events (" + agent.streaming + ")" : "answers JSON");
    if (!agent.enabled) parts.push("disabled: it answers 503 until switched on");
    agentInfo.textContent = parts.join(" · ");
    agentInfo.classList.toggle("playground-disabled", !agent.enabled);
  }

  function clearResults() {
    results.hidden = false;
    delete results.dataset.httpStatus;
    delete results.dataset.outcome;
    statusLine.textContent = "";
    progress.textContent = "";
    links.replaceChildren();
    hideApproval();
    reply.replaceChildren();
    replyBox.hidden = true;
    eventList.replaceChildren();
    eventsBox.hidden = true;
    body.textContent = "";
    bodyBox.hidden = true;
  }

  function showHttpStatus(response) {
    results.dataset.httpStatus = String(response.status);
    statusLine.textContent = ("HTTP " + response.status + " " + response.statusText).trim();
  }

  function addLink(id, label, href) {
    if ($(id)) return;
    const item = document.createElement("li");
    const anchor = document.createElement("a");
    anchor.id = id;
    anchor.href = href;
    anchor.textContent = label;
    item.appendChild(anchor);
    links.appendChild(item);
  }

  function addNote(text) {
    const item = document.createElement("li");
    item.textContent = text;
    links.appendChild(item);
  }

  function showTrace(traceId) {
    if (!traceId) return;
    addLink("playground-trace", "View trace " + traceId, urlFor(config.trace_url, traceId));
  }

  function showApprovalRequest(approvalId) {
    if (!approvalId) return;
    if (config.approval_url) {
      addLink(
        "playground-approval-link",
        "Approval request " + approvalId,
        urlFor(config.approval_url, approvalId),
      );
    } else {
      addNote("Approval request " + approvalId + " (you may not view approval requests)");
    }
  }

  function showBody(data) {
    bodyBox.hidden = false;
    body.textContent = typeof data === "string" ? data : JSON.stringify(data, null, 2);
  }

  // What a JSON answer (or a refusal of the stream route) says: body, session, trace, approval.
  function showAnswer(data) {
    showBody(data);
    if (data === null || typeof data !== "object") return;
    if (data.status) results.dataset.outcome = String(data.status);
    if (data.session_id) sessionInput.value = data.session_id;
    showTrace(data.execution_trace_id || data.trace_id);
    if (data.approval_request) showApprovalRequest(data.approval_request.id);
  }

  async function readBody(response) {
    const text = await response.text();
    try {
      return JSON.parse(text);
    } catch (error) {
      return text; // an endpoint may answer CSV, HTML…: shown as it is
    }
  }

  function post(url, payload, run, accept) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: accept,
        "X-CSRFToken": csrfToken(),
      },
      body: JSON.stringify(payload),
      signal: run.controller.signal,
    });
  }

  async function sendPlain(agent, payload, run) {
    const response = await post(agent.url, payload, run, "application/json");
    const data = await readBody(response);
    if (run !== current) return;
    showHttpStatus(response);
    showAnswer(data);
  }

  // --- streams ---------------------------------------------------------------------------

  // One SSE frame's fields; null for a frame without data (a keepalive comment).
  function parseFrame(frame) {
    const fields = { event: "", id: "", data: [] };
    for (const line of frame.split("\n")) {
      if (line === "" || line.startsWith(":")) continue; // ":" starts a comment (keepalive)
      const colon = line.indexOf(":");
      const name = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (name === "data") fields.data.push(value);
      else if (name === "event" || name === "id") fields[name] = value;
    }
    return fields.data.length ? fields : null;
  }

  async function readEvents(response, run) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done || run !== current) return;
      // SSE lines may end in CRLF, LF or CR; a CR ending the chunk waits for a possible LF.
      buffer = (buffer + decoder.decode(value, { stream: true })).replace(/\r\n|\r(?!$)/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = parseFrame(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (frame) handleEvent(frame, run);
        if (run.ended) {
          reader.cancel().catch(() => {});
          return;
        }
      }
    }
  }

  function handleEvent(frame, run) {
    const text = frame.data.join("\n");
    let event;
    try {
      event = JSON.parse(text);
    } catch (error) {
      event = null;
    }
    if (event === null || typeof event !== "object") event = { text: text };
    const kind = String(event.kind || frame.event || "message");
    const seq = Number(event.seq !== undefined ? event.seq : frame.id || NaN);
    if (Number.isFinite(seq)) {
      if (seq <= run.lastSeq) return; // already shown
      run.lastSeq = seq;
    }
    showEvent(kind, seq, event);
    if (kind === "partial_result") {
      appendReply(event.text);
    } else if (kind === "approval_requested") {
      askApproval(event, run);
    } else if (kind === "approval_resolved") {
      hideApproval();
    } else if (kind === "final") {
      run.ended = true;
      hideApproval();
      results.dataset.outcome = String(event.status || "completed");
      progress.textContent = "Finished: " + (event.status || "completed") + ".";
      showBody(event.result === undefined ? null : event.result);
      if (event.session_id) sessionInput.value = event.session_id;
      showTrace(event.trace_id);
      if (event.approval_request) showApprovalRequest(event.approval_request.id);
    } else if (kind === "error") {
      run.ended = true;
      hideApproval();
      results.dataset.outcome = "error";
      const code = [event.code, event.status_code].filter((part) => part).join(", ");
      const message = event.message || "error";
      progress.textContent = "Failed: " + message + (code ? " (" + code + ")" : "");
      showTrace(event.trace_id);
    }
  }

  function showEvent(kind, seq, event) {
    eventsBox.hidden = false;
    const item = document.createElement("li");
    item.dataset.kind = kind;
    if (Number.isFinite(seq)) item.dataset.seq = String(seq);
    const name = document.createElement("strong");
    name.textContent = kind;
    const number = document.createElement("span");
    number.className = "playground-seq";
    number.textContent = Number.isFinite(seq) ? "#" + seq : "";
    const rest = Object.assign({}, event);
    delete rest.kind;
    delete rest.seq;
    delete rest.timestamp;
    let detail = JSON.stringify(rest);
    if (detail.length > EVENT_DETAIL_CHARS) detail = detail.slice(0, EVENT_DETAIL_CHARS) + "…";
    const code = document.createElement("code");
    code.textContent = detail;
    item.append(name, " ", number, " ", code);
    eventList.appendChild(item);
  }

  function appendReply(text) {
    if (!text) return;
    replyBox.hidden = false;
    // Pieces are joined as they come (a model's stream splits words, not sentences); the
    // "one piece per line" box shows a handler's sentence-sized pieces apart instead.
    const piece = document.createElement("span");
    piece.className = "playground-piece";
    piece.textContent = String(text);
    reply.appendChild(piece);
  }

  function askApproval(event, run) {
    run.approvalId = event.approval_id;
    approvalPrompt.textContent = event.prompt || "Approve?";
    approvalOptions.replaceChildren();
    const options =
      Array.isArray(event.options) && event.options.length ? event.options : ["approve", "reject"];
    for (const option of options) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "button";
      button.dataset.decision = String(option);
      button.textContent = String(option);
      button.addEventListener("click", () => decide(run, String(option)));
      approvalOptions.appendChild(button);
    }
    const wait = event.timeout_seconds
      ? "Without an answer within " + event.timeout_seconds + " s, " +
        JSON.stringify(event.default_decision || options[options.length - 1]) + " applies."
      : "";
    approvalNote.textContent = wait;
    approval.hidden = false;
    showApprovalRequest(event.approval_id);
  }

  function hideApproval() {
    approval.hidden = true;
    approvalOptions.replaceChildren();
    approvalNote.textContent = "";
  }

  function setOptionsDisabled(disabled) {
    for (const button of approvalOptions.querySelectorAll("button")) button.disabled = disabled;
  }

  async function decide(run, decision) {
    if (!run.runId || !run.approvalId || run !== current) return;
    setOptionsDisabled(true);
    approvalNote.textContent = "Sending " + JSON.stringify(decision) + "…";
    let response = null;
    try {
      response = await fetch(urlFor(config.resume_url, run.runId), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
        body: JSON.stringify({ approval_id: run.approvalId, decision: decision }),
      });
    } catch (error) {
      approvalNote.textContent = "Could not reach the server.";
      setOptionsDisabled(false);
      return;
    }
    if (response.ok) {
      // The stream's approval_resolved event hides the question.
      approvalNote.textContent = "Decision sent; waiting for the run to go on.";
      return;
    }
    const data = await readBody(response);
    const reason = data && typeof data === "object" ? data.error || JSON.stringify(data) : data;
    approvalNote.textContent = "Refused (HTTP " + response.status + "): " + reason;
    // 409: decided or expired already; the stream's approval_resolved says how.
    if (response.status !== 409) setOptionsDisabled(false);
  }

  async function sendStream(agent, payload, run) {
    // SSE whatever the agent's default transport, so one reader serves every agent.
    const url = agent.stream_url + "?transport=sse";
    const response = await post(url, payload, run, "text/event-stream");
    if (run !== current) return;
    showHttpStatus(response);
    if (!response.ok) {
      showAnswer(await readBody(response));
      return;
    }
    run.runId = response.headers.get("X-Agent-Run-Id");
    // A run may wait minutes for a person: sending another intent meanwhile is allowed.
    sendButton.disabled = false;
    progress.textContent = "Streaming run " + run.runId + "…";
    eventsBox.hidden = false;
    await readEvents(response, run);
    if (run === current && !run.ended) {
      progress.textContent =
        "The stream closed before the run ended; run " + run.runId + " goes on without it.";
    }
  }

  async function send() {
    const agent = agentsByName.get(select.value);
    const intent = intentInput.value.trim();
    if (!agent || !intent) return;
    if (current) current.controller.abort();
    const run = {
      controller: new AbortController(),
      runId: null,
      approvalId: null,
      lastSeq: -1,
      ended: false,
    };
    current = run;
    clearResults();
    progress.textContent = "Sending…";
    sendButton.disabled = true;
    const payload = { intent: intent };
    const session = sessionInput.value.trim();
    if (session) payload.session_id = session;
    try {
      if (agent.stream_url) await sendStream(agent, payload, run);
      else await sendPlain(agent, payload, run);
      if (run === current && !agent.stream_url) progress.textContent = "";
    } catch (error) {
      if (run === current && error.name !== "AbortError") {
        progress.textContent = "Could not reach the server: " + error.message;
      }
    } finally {
      if (run === current) sendButton.disabled = false;
    }
  }

  select.addEventListener("change", describeAgent);
  replyLines.addEventListener("change", () => {
    reply.classList.toggle("playground-lines", replyLines.checked);
  });
  form.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    send();
  });
  describeAgent();
})();
