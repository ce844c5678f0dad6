// The dashboard's only script (no inline script: the pages' CSP is default-src 'self').
// It signs in and out, sends the CSRF token on every state-changing request (the
// buttons of the batch, group and schedules pages), starts batches and keeps progress
// bars live from each batch's server-sent events.
// Values are written with textContent, never innerHTML.
"use strict";

(function () {
  const API = "/api/v1";
  const MAX_STREAMS = 4;
  const REFOLLOWS = 60;

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function showMessage(text) {
    const box = document.getElementById("message");
    if (!box) return;
    box.textContent = text;
    box.hidden = !text;
  }

  // A problem-details body (or any other) as one line for the message box.
  async function problemText(response) {
    let text = response.status + " " + response.statusText;
    try {
      const body = await response.json();
      const parts = [body.title, body.detail].filter(Boolean);
      if (body.field) parts.push("(field: " + body.field + ")");
      if (parts.length) text = response.status + ": " + parts.join(" — ");
    } catch (_) {
      // not JSON: the status line says enough
    }
    return text;
  }

  // A request that changes state: same-origin cookie plus the CSRF header.
  function send(method, url, body) {
    const init = {
      method: method,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
    };
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init);
  }

  function setUpSignIn() {
    const form = document.getElementById("sign-in-form");
    if (!form) return;
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const input = document.getElementById("api-key");
      const key = input.value;
      input.value = ""; // the key leaves the page as soon as it is sent
      const response = await fetch(API + "/session", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ key: key }),
      });
      if (response.ok) {
        window.location.assign("/");
      } else {
        showMessage(await problemText(response));
      }
    });
  }

  function setUpSignOut() {
    const button = document.getElementById("sign-out");
    if (!button) return;
    button.addEventListener("click", async function () {
      await send("DELETE", API + "/session");
      window.location.assign("/sign-in");
    });
  }

  // A button's API call: data-action the URL, data-method (POST unless given),
  // data-body a JSON body, data-confirm a question asked first (removals).
  function setUpActions() {
    document.querySelectorAll("button[data-action]").forEach(function (button) {
      button.addEventListener("click", async function () {
        if (button.dataset.confirm && !window.confirm(button.dataset.confirm)) return;
        button.disabled = true;
        const body = button.dataset.body ? JSON.parse(button.dataset.body) : undefined;
        const method = button.dataset.method || "POST";
        const response = await send(method, button.dataset.action, body);
        button.disabled = false;
        if (response.ok) {
          window.location.reload();
        } else {
          showMessage(await problemText(response));
        }
      });
    });
  }

  // The flows registered on the server, asked of the API, as options of the list.
  async function listFlows(select) {
    const response = await fetch(API + "/flows", {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) {
      showMessage(await problemText(response));
      return;
    }
    const body = await response.json();
    body.flows.forEach(function (flow) {
      const option = document.createElement("option");
      option.value = flow.name;
      option.textContent = flow.name;
      select.appendChild(option);
    });
  }

  function setUpStart() {
    const form = document.getElementById("start-form");
    if (!form) return;
    listFlows(document.getElementById("flow-name"));
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const data = new FormData(form);
      // Empty optional fields are left out rather than sent as "".
      for (const [name, value] of Array.from(data.entries())) {
        if (value === "" || (value instanceof File && !value.name)) data.delete(name);
      }
      const response = await send("POST", API + "/batches", data);
      if (!response.ok) {
        showMessage(await problemText(response));
        return;
      }
      const body = await response.json();
      window.location.assign("/batches/" + encodeURIComponent(body.batch_id));
    });
  }

  // One progress bar: its <progress> and its text.
  function renderProgress(holder, done, total) {
    const bar = holder.querySelector("progress");
    const text = holder.querySelector('[data-role="progress-text"]');
    const percent = total > 0 ? Math.floor((100 * done) / total) : 100;
    bar.max = Math.max(total, 1);
    bar.value = total > 0 ? done : 1;
    bar.textContent = percent + " %";
    text.textContent = done + " / " + total + " (" + percent + " %)";
    holder.dataset.percent = String(percent);
  }

  // The status and success-rate cells of the bar's batch (its row, or the batch page).
  function renderBatch(holder, data) {
    const scope = holder.closest("[data-batch-id]");
    if (!scope) return;
    const status = scope.querySelector('[data-role="status"]');
    if (status && data.status) {
      status.textContent = data.status;
      status.className = "status status-" + data.status;
    }
    const rate = scope.querySelector('[data-role="success-rate"]');
    if (rate && data.counts) {
      const runnable = data.total - (data.counts.skipped || 0);
      const fraction = runnable > 0 ? (data.counts.completed || 0) / runnable : 0;
      rate.textContent = (100 * fraction).toFixed(1) + " %";
    }
  }

  function doneOf(data) {
    if (typeof data.done === "number") return data.done;
    const counts = data.counts || {};
    return data.total - (counts.pending || 0) - (counts.running || 0);
  }

  // Keeps a bar live from the batch's server-sent events ("progress" with the counts,
  // then "finished"; the per-row "row" events are not needed here). EventSource
  // reconnects by itself with Last-Event-ID; the final event closes it.
  // A batch this server has just queued (resumed, retried) still shows its old stopped
  // state, so its stream may end at once with rows pending: the bar follows it again a
  // little later, until it is seen running (at most REFOLLOWS times).
  function follow(holder, attempt) {
    const source = new EventSource(holder.dataset.live, { withCredentials: true });
    let sawRunning = false;
    function render(event) {
      const data = JSON.parse(event.data);
      sawRunning = sawRunning || data.status === "running";
      renderProgress(holder, doneOf(data), data.total);
      renderBatch(holder, data);
      return data;
    }
    source.addEventListener("progress", render);
    source.addEventListener("finished", function (event) {
      const data = render(event);
      source.close();
      const queuedHere = holder.dataset.run !== "idle";
      if (queuedHere && !sawRunning && (data.counts.pending || 0) > 0 && attempt < REFOLLOWS) {
        window.setTimeout(function () { follow(holder, attempt + 1); }, 1000);
        return;
      }
      holder.dataset.finished = "true";
      if (document.body.dataset.page === "batch") refreshRows();
    });
  }

  // When the batch page's stream ends, its server-rendered rows and counts are stale:
  // the same page is fetched again and those two parts are swapped in (our own
  // escaped HTML, parsed inert by DOMParser; no value passes through innerHTML).
  async function refreshRows() {
    const response = await fetch(window.location.href, {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    ["counts", "rows"].forEach(function (id) {
      const now = document.getElementById(id);
      const next = fresh.getElementById(id);
      if (now && next) now.replaceWith(document.importNode(next, true));
    });
    document.body.dataset.refreshed = "true";
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpSignIn();
    setUpSignOut();
    setUpActions();
    setUpStart();
    // A browser opens at most 6 HTTP/1.1 connections to a host: more streams than that
    // would stall the page's own requests, so only the first few bars follow live.
    Array.from(document.querySelectorAll("[data-live]")).slice(0, MAX_STREAMS).forEach(function (holder) {
      follow(holder, 0);
    });
  });
})();
