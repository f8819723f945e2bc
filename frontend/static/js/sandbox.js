// The sandbox panel: start, reset, and a status line that follows provisioning until ready.
// Plain script, no build step. On the sandbox page the page's socket brings every change of
// state ("sandbox:status" events from sandbox-page.js), so the panel asks the server only as a
// slow safety net; elsewhere (the lesson list) it asks every second while something is under way.
(function () {
  "use strict";
  const panel = document.getElementById("sandbox-panel");
  if (!panel) return;
  const $ = (id) => document.getElementById(id);
  const csrf = panel.querySelector("input[name=csrfmiddlewaretoken]").value;
  const label = (state) => panel.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)] || state;
  let timer = null;
  let shown = null; // the state rendered last
  const pushed = Boolean(document.getElementById("sandbox-page")); // the page's socket says what changes

  function render(status) {
    const state = status.state;
    // In line, the server's sentence carries the place: "the class is full — you are number 3 in line".
    $("sandbox-state").textContent = state === "queued" && status.message ? status.message : label(state);
    panel.dataset.state = state;
    const progress = $("sandbox-progress");
    const match = /^(\d+)\/(\d+)$/.exec(status.progress || "");
    progress.hidden = !match;
    if (match) { progress.max = Number(match[2]); progress.value = Number(match[1]); }
    $("sandbox-details").textContent = status.namespace
      ? `namespace: ${status.namespace}` + (status.node_port ? ` · NodePort: ${status.node_port}` : "")
      : "";
    const error = status.error || status.notice || "";
    $("sandbox-error").hidden = !error;
    $("sandbox-error").textContent = error;
    $("sandbox-start").hidden = !(state === "none" || state === "failed" || state === "error" || state === "limited");
    $("sandbox-reset").hidden = state !== "ready";
    $("sandbox-leave").hidden = state !== "queued";
    // The page's other parts (live view, lesson) hear when a sandbox started from this page is ready.
    if (state === "ready" && shown !== null && shown !== "ready") document.dispatchEvent(new Event("sandbox:ready"));
    shown = state;
    const busy = ["requested", "provisioning", "resetting", "deleting"].includes(state);
    clearTimeout(timer);
    if (busy) timer = setTimeout(refresh, pushed ? 15000 : 1000);
    // In line, ask again when the server said to (Retry-After); asking also keeps the place.
    if (state === "queued") timer = setTimeout(refresh, 1000 * (status.retry_after || 5));
  }

  async function call(url, method) {
    try {
      const response = await fetch(url, { method, headers: { "X-CSRFToken": csrf, Accept: "application/json" }, credentials: "same-origin" });
      render(await response.json());
    } catch (err) {
      render({ state: "error", error: label("error") });
    }
  }

  function refresh() { call(panel.dataset.statusUrl, "GET"); }
  $("sandbox-start").addEventListener("click", () => call(panel.dataset.startUrl, "POST"));
  $("sandbox-reset").addEventListener("click", () => call(panel.dataset.resetUrl, "POST"));
  $("sandbox-leave").addEventListener("click", () => call(panel.dataset.leaveUrl, "POST"));
  document.addEventListener("sandbox:refresh", refresh);
  document.addEventListener("sandbox:status", (event) => render(event.detail));
  refresh();
})();
