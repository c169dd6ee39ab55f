// The local console's script: polls the emulator's JSON routes with the key from the URL
// fragment and renders them. Values are set as text (textContent), never as markup.
"use strict";

const KEY_SLOT = "flash-emulator-key";
const POLL_MS = 1000;
const MAX_LOG_LINES = 500;

function takeKey() {
  const fromFragment = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fromFragment) {
    sessionStorage.setItem(KEY_SLOT, fromFragment);
    // Out of the address bar (and so of bookmarks and screen shares).
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem(KEY_SLOT);
}

let key = takeKey();
let logCursor = 0;
const logLines = [];

function status(text, isError) {
  const el = document.getElementById("status");
  el.textContent = text;
  el.className = isError ? "error" : "";
}

async function get(path) {
  const response = await fetch(path, {
    headers: { Authorization: "Bearer " + key },
    cache: "no-store",
  });
  if (response.status === 401) {
    throw new Error("the emulator refused the key");
  }
  if (!response.ok) {
    throw new Error(path + ": HTTP " + response.status);
  }
  return response.json();
}

function cell(row, value, className) {
  const td = row.insertCell();
  td.textContent = value === null || value === undefined ? "" : String(value);
  if (className) {
    td.className = className;
  }
  return td;
}

function fill(tableId, rows, render, emptyText) {
  const body = document.querySelector("#" + tableId + " tbody");
  body.replaceChildren();
  if (rows.length === 0) {
    const row = body.insertRow();
    const td = cell(row, emptyText, "empty");
    td.colSpan = document.querySelectorAll("#" + tableId + " th").length;
    return;
  }
  for (const item of rows) {
    render(body.insertRow(), item);
  }
}

function uptime(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}

function render(state) {
  const endpoints = state.endpoints;
  fill("endpoints", endpoints, (row, e) => {
    row.dataset.endpoint = e.name;
    cell(row, e.name);
    cell(row, e.type === "LB" ? "load-balanced" : "queue");
    cell(row, e.id);
    cell(row, e.activeBuildId);
    cell(row, e.workers.length, "num");
    cell(row, e.queued, "num");
    cell(row, e.provisionError);
  }, "no endpoints: deploy an app");
  const workers = endpoints.flatMap((e) => e.workers.map((w) => ({ endpoint: e.name, w })));
  fill("workers", workers, (row, { endpoint, w }) => {
    row.dataset.worker = w.id;
    cell(row, endpoint);
    cell(row, w.id);
    cell(row, w.state, w.state);
    cell(row, w.version, "num");
    cell(row, w.pid, "num");
    cell(row, uptime(w.ageMs), "num");
    cell(row, w.jobs.join(", "));
  }, "no workers running");
  const jobs = endpoints
    .flatMap((e) => e.jobs.map((j) => ({ endpoint: e.name, j })))
    .reverse();
  fill("jobs", jobs, (row, { endpoint, j }) => {
    row.dataset.status = j.status;
    cell(row, endpoint);
    cell(row, j.id);
    cell(row, j.status, j.status);
    cell(row, j.workerId);
    cell(row, j.delayMs, "num");
    cell(row, j.executionMs, "num");
    cell(row, j.requeues, "num");
  }, "no jobs yet");
}

function appendLogs(page) {
  logCursor = page.next;
  if (page.lines.length === 0) return;
  logLines.push(...page.lines);
  logLines.splice(0, Math.max(0, logLines.length - MAX_LOG_LINES));
  const pre = document.getElementById("logs");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
  pre.replaceChildren(
    ...logLines.map((l) => {
      const span = document.createElement("span");
      span.className = l.stream;
      span.textContent = l.time + " [" + l.endpointName + "/" + l.workerId + "] " + l.line + "\n";
      return span;
    }),
  );
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

async function poll() {
  try {
    const [state, logs] = await Promise.all([
      get("/emulator/state"),
      get("/emulator/logs?after=" + logCursor + "&limit=" + MAX_LOG_LINES),
    ]);
    render(state);
    appendLogs(logs);
    status("live: updated " + new Date().toLocaleTimeString(), false);
  } catch (error) {
    status(String(error.message || error), true);
  }
  setTimeout(poll, POLL_MS);
}

function askForKey() {
  status("open the URL `flash run` printed, or paste the emulator's key", true);
  const form = document.getElementById("key-form");
  form.style.display = "block";
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    key = document.getElementById("key-input").value.trim();
    if (key) {
      sessionStorage.setItem(KEY_SLOT, key);
      form.style.display = "none";
      poll();
    }
  });
}

if (key) {
  poll();
} else {
  askForKey();
}
