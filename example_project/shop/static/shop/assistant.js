// The refund assistant: POST an intent to the refunds stream, read its Server-Sent Events,
// answer the mid-stream approval, and follow the run again if the connection drops.
// Event data is only ever written with textContent.
(function () {
  "use strict";

  const form = document.getElementById("ask");
  const input = document.getElementById("intent");
  const sendButton = document.getElementById("send");
  const statusLine = document.getElementById("status");
  const approval = document.getElementById("approval");
  const promptText = document.getElementById("prompt");
  const approveButton = document.getElementById("approve");
  const rejectButton = document.getElementById("reject");
  const eventList = document.getElementById("events");
  const result = document.getElementById("result");
  const streamUrl = form.dataset.streamUrl;
  const apiRoot = form.dataset.apiRoot;
  const MAX_RECONNECTS = 5;

  let runId = null;
  let lastSeq = -1;
  let approvalId = null;
  let ended = false;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (match) return decodeURIComponent(match[1]);
    const field = form.querySelector("input[name=csrfmiddlewaretoken]");
    return field ? field.value : "";
  }

  function summary(event) {
    switch (event.kind) {
      case "thought":
      case "partial_result":
        return event.text;
      case "approval_requested":
        return event.prompt;
      case "approval_resolved":
        return event.decision + (event.decided_by ? " by " + event.decided_by : "") +
          (event.timed_out ? " (timed out)" : "");
      case "final":
        return (event.result && event.result.message) || event.status;
      case "error":
        return event.message;
      default:
        return JSON.stringify(event).slice(0, 200);
    }
  }

  function showEvent(event) {
    if (event.seq <= lastSeq) return; // already shown (replayed after a reconnect)
    lastSeq = event.seq;
    const item = document.createElement("li");
    item.dataset.kind = event.kind;
    item.dataset.seq = String(event.seq);
    const kind = document.createElement("strong");
    kind.textContent = event.kind;
    item.append(kind, " ", String(summary(event) ?? ""));
    eventList.appendChild(item);

    if (event.kind === "approval_requested") {
      approvalId = event.approval_id;
      promptText.textContent = event.prompt;
      approveButton.disabled = rejectButton.disabled = false;
      approval.hidden = false;
    } else if (event.kind === "approval_resolved") {
      approval.hidden = true;
      approvalId = null;
    } else if (event.kind === "final") {
      const outcome = event.result || {};
      result.dataset.refunded = String(Boolean(outcome.refunded));
      result.textContent = outcome.message || JSON.stringify(outcome);
      finish("Done.");
    } else if (event.kind === "error") {
      result.dataset.refunded = "false";
      result.textContent = "Error: " + event.message;
      finish("The run failed.");
    }
  }

  function finish(text) {
    ended = true;
    approval.hidden = true;
    statusLine.textContent = text;
    sendButton.disabled = false;
  }

  function handleFrame(frame) {
    let data = "";
    for (const line of frame.split("\n")) {
      if (line.startsWith("data:")) data += (data ? "\n" : "") + line.slice(5).trimStart();
      // "event:" and "id:" repeat what the JSON says (kind, seq); ":" lines are keepalives.
    }
    if (data) showEvent(JSON.parse(data));
  }

  async function readEvents(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true }); // the server ends lines with "\n"
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        handleFrame(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (ended) return;
      }
    }
  }

  async function errorText(response) {
    const body = await response.json().catch(() => ({}));
    return body.error || "HTTP " + response.status;
  }

  // Read until the final event; when the connection drops, ask for the events after the
  // last one shown: GET runs/<id>/events/?since=<seq>.
  async function follow(response) {
    let attempts = 0;
    while (!ended) {
      if (response !== null) {
        try {
          await readEvents(response);
        } catch (error) {
          // The connection dropped; reconnect below.
        }
        if (ended) return;
      }
      if (attempts >= MAX_RECONNECTS) {
        finish("Connection lost; reload the page to try again.");
        return;
      }
      attempts += 1;
      statusLine.textContent = "Connection lost, reconnecting…";
      await new Promise((resolve) => setTimeout(resolve, 500 * attempts));
      const url = apiRoot + "runs/" + encodeURIComponent(runId) + "/events/?since=" + lastSeq;
      try {
        response = await fetch(url, {
          credentials: "same-origin",
          headers: { Accept: "text/event-stream" },
        });
      } catch (error) {
        response = null;
        continue;
      }
      if (!response.ok) {
        finish("Reconnecting failed: " + (await errorText(response)));
        return;
      }
      statusLine.textContent = "Reconnected.";
    }
  }

  async function send(text) {
    runId = null;
    lastSeq = -1;
    approvalId = null;
    ended = false;
    eventList.replaceChildren();
    result.textContent = "";
    delete result.dataset.refunded;
    approval.hidden = true;
    sendButton.disabled = true;
    statusLine.textContent = "Sending…";
    let response;
    try {
      response = await fetch(streamUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "text/event-stream",
          "X-CSRFToken": csrfToken(),
        },
        body: JSON.stringify({ intent: text }),
      });
    } catch (error) {
      finish("Could not reach the server.");
      return;
    }
    if (!response.ok) {
      finish("Refused: " + (await errorText(response)));
      return;
    }
    runId = response.headers.get("X-Agent-Run-Id");
    statusLine.textContent = "Streaming run " + runId + "…";
    await follow(response);
  }

  async function decide(decision) {
    if (!runId || !approvalId) return;
    approveButton.disabled = rejectButton.disabled = true;
    const response = await fetch(apiRoot + "runs/" + encodeURIComponent(runId) + "/resume/", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ approval_id: approvalId, decision: decision }),
    }).catch(() => null);
    if (response === null || !response.ok) {
      statusLine.textContent =
        "Could not send the decision: " + (response ? await errorText(response) : "offline");
      // 409: already decided or expired; the stream's approval_resolved tells how.
      if (!response || response.status !== 409) {
        approveButton.disabled = rejectButton.disabled = false;
      }
    }
    // Otherwise the stream's approval_resolved event hides the question.
  }

  form.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const text = input.value.trim();
    if (text && !sendButton.disabled) send(text);
  });
  approveButton.addEventListener("click", () => decide("approve"));
  rejectButton.addEventListener("click", () => decide("reject"));
})();
