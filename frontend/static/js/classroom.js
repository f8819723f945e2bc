// The live class dashboard: the server pushes a new picture of the class (class.snapshot) over
// ws/class/<pk>/ after every change; this file only draws it. Text from students (names, lines
// typed, check messages) is always set as textContent, never as HTML.
(function () {
  "use strict";
  const root = document.getElementById("class-dashboard");
  if (!root) return;
  const labels = JSON.parse(document.getElementById("class-labels").textContent);
  const $ = (id) => document.getElementById(id);
  const state = { rows: [], stuck: [], lessons: [] };
  let socket = null;
  let retry = 500;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function duration(seconds) {
    if (seconds === null || seconds < 0) return "";
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = Math.floor(seconds % 60);
    const mm = String(m).padStart(2, "0"), ss = String(s).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${m}:${ss}`;
  }

  const since = (iso) => (iso ? (Date.now() - Date.parse(iso)) / 1000 : null);
  const until = (iso) => (Date.parse(iso) - Date.now()) / 1000;
  const finished = (row) => row.total > 0 && row.done >= row.total;

  function visible() {
    const lesson = $("roster-lesson").value, filter = $("roster-state").value, sort = $("roster-sort").value;
    let rows = state.rows.filter((r) => !lesson || r.lesson === lesson);
    if (filter === "stuck") rows = rows.filter((r) => r.failure);
    if (filter === "ready") rows = rows.filter((r) => r.sandbox === "ready");
    if (filter === "none") rows = rows.filter((r) => !r.sandbox);
    if (filter === "finished") rows = rows.filter(finished);
    const byName = (a, b) => a.name.localeCompare(b.name);
    const orders = {
      // Failing students first, the longest on their step at the top.
      stuck: (a, b) => (!!b.failure - !!a.failure) || ((since(b.on_step_since) || 0) - (since(a.on_step_since) || 0)) || byName(a, b),
      lesson: (a, b) => a.lesson.localeCompare(b.lesson) || a.step.localeCompare(b.step) || byName(a, b),
      progress: (a, b) => (a.done - b.done) || byName(a, b),
      name: byName,
    };
    return rows.sort(orders[sort] || byName);
  }

  function drawRoster() {
    const body = $("roster");
    body.replaceChildren();
    const rows = visible();
    if (!rows.length) {
      const tr = el("tr");
      const td = el("td", labels.nobody, "muted");
      td.colSpan = 10;
      tr.append(td);
      body.append(tr);
    }
    for (const r of rows) {
      const tr = el("tr", null, r.failure ? "row-stuck" : finished(r) ? "row-done" : "");
      const name = el("td");
      const link = el("a", r.name);
      link.href = labels.student_url.replace(/\/0\/$/, `/${r.user_id}/`);
      name.append(link);
      const where = finished(r) ? labels.finished : r.lesson ? `${r.lesson_title} › ${r.step_title}` : labels.not_started;
      const onStep = el("td", duration(since(r.on_step_since)), "ticking");
      onStep.dataset.since = r.on_step_since || "";
      const lines = el("td", null, "lines");
      for (const line of r.lines) lines.append(el("code", line), el("br"));
      const left = until(r.deadline);
      const timeLeft = el("td", left > 0 ? duration(left) : labels.time_up, "ticking");
      timeLeft.dataset.until = r.deadline;
      tr.append(
        name, el("td", where), onStep, el("td", `${r.done} / ${r.total}`), el("td", r.hints), el("td", r.skips),
        el("td", r.failure, "failure"), lines, el("td", r.sandbox_label || labels.no_sandbox), timeLeft,
      );
      body.append(tr);
    }
  }

  function drawStuck() {
    const list = $("stuck");
    list.replaceChildren();
    $("stuck-empty").hidden = state.stuck.length > 0;
    for (const g of state.stuck) {
      const item = el("li", null, "card stuck-group");
      item.append(el("strong", `${g.count} ${labels.students}`), el("span", ` · ${g.lesson} › ${g.step}: `, "muted"));
      item.append(el("span", g.message, "failure"));
      const form = el("form", null, "row");
      const input = el("input");
      input.maxLength = 500;
      input.required = true;
      input.placeholder = labels.hint_placeholder;
      input.setAttribute("aria-label", labels.hint_placeholder);
      const button = el("button", labels.send_hint);
      button.type = "submit";
      const said = el("span", "", "muted");
      said.setAttribute("role", "status");
      form.append(input, button, said);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        if (socket && socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({ type: "hint", key: g.key, text: input.value }));
          pendingHint = { key: g.key, said };
          input.value = "";
        }
      });
      item.append(form);
      list.append(item);
    }
  }
  let pendingHint = null;

  function drawSummary() {
    const list = $("lesson-summary");
    list.replaceChildren();
    const total = state.rows.length || 1;
    for (const l of state.lessons) {
      const item = el("li", null, "summary-lesson");
      item.append(el("span", l.title, "summary-title"));
      const bar = el("div", null, "summary-bar");
      bar.setAttribute("aria-hidden", "true");
      const done = el("span", null, "summary-done");
      done.style.width = `${(100 * l.finished) / total}%`;
      const working = el("span", null, "summary-working");
      working.style.width = `${(100 * l.working) / total}%`;
      bar.append(done, working);
      item.append(bar, el("span", `${l.finished} ${labels.finished_lesson} · ${l.working} ${labels.working}`, "muted"));
      list.append(item);
    }
  }

  function tick() {
    for (const cell of document.querySelectorAll("#roster td.ticking")) {
      if (cell.dataset.since !== undefined) cell.textContent = duration(since(cell.dataset.since || null));
      if (cell.dataset.until) {
        const left = until(cell.dataset.until);
        cell.textContent = left > 0 ? duration(left) : labels.time_up;
      }
    }
  }

  function connect() {
    $("connection").textContent = labels.connecting;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/class/${root.dataset.class}/`);
    socket.addEventListener("open", () => { retry = 500; $("connection").textContent = labels.live; });
    socket.addEventListener("message", (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "class.snapshot") {
        Object.assign(state, { rows: message.rows, stuck: message.stuck, lessons: message.lessons });
        // Redrawing the stuck groups would drop a hint being typed: only when they changed.
        const keys = message.stuck.map((g) => `${g.key}:${g.count}`).join(",");
        if (keys !== state.stuckKeys || !document.querySelector("#stuck input:focus")) { state.stuckKeys = keys; drawStuck(); }
        drawRoster();
        drawSummary();
      } else if ((message.type === "class.hint_sent" || message.type === "error") && pendingHint) {
        pendingHint.said.textContent = message.message;
      }
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4404) { $("connection").textContent = labels.refused; return; }
      $("connection").textContent = labels.lost;
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  }

  for (const id of ["roster-sort", "roster-lesson", "roster-state"]) $(id).addEventListener("change", drawRoster);
  setInterval(tick, 1000);
  connect();
})();
