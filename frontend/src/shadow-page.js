// The watch page (classroom/shadow.py): a student's terminal, read-only, as it happens; the live
// view of their namespace; their progress; and a box to suggest a line, which only fills the
// student's prompt. Nothing typed here reaches the student's terminal: xterm takes no input.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";
import { PageSocket } from "./socket.js";
import { LiveView } from "./liveview.js";

const page = document.getElementById("shadow-page");
if (page) {
  const labels = JSON.parse(document.getElementById("terminal-labels").textContent);
  const term = new Terminal({
    disableStdin: true,
    cursorBlink: false,
    scrollback: 5000,
    fontFamily: '"DejaVu Sans Mono", "Noto Sans Mono CJK SC", monospace',
    fontSize: 14,
    theme: { background: "#10151c" },
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  const box = document.getElementById("shadow-terminal");
  term.open(box);
  fit.fit();
  // Only this view is fitted to this window; the student's terminal keeps its own size.
  new ResizeObserver(() => fit.fit()).observe(box);
  term.writeln(`\x1b[2m${labels.connecting || ""}\x1b[0m`);

  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new PageSocket(`${scheme}://${location.host}${page.dataset.socket}`);
  new LiveView(document.getElementById("live-view"), socket, labels);
  const notice = document.getElementById("shadow-notice");
  socket.on("shadow.hello", (m) => { term.reset(); term.write(m.scrollback || ""); showSteps(m.steps); });
  socket.on("terminal.output", (m) => term.write(m.data));
  socket.on("shadow.progress", (m) => showSteps(m.steps));
  socket.on("error", (m) => { notice.textContent = m.message; notice.hidden = false; });
  socket.on("close", (event) => {
    if (event.code === 4404) { notice.textContent = labels.ended || ""; notice.hidden = false; }
  });

  const form = document.getElementById("suggest-form");
  const input = document.getElementById("suggest-line");
  const status = document.getElementById("suggest-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    notice.hidden = true;
    socket.send({ type: "suggest", line: input.value });
  });
  socket.on("suggest.sent", () => { status.textContent = labels.suggestSent || ""; input.value = ""; });

  function showSteps(steps) {
    for (const step of steps || []) {
      const row = page.querySelector(`tr[data-lesson="${CSS.escape(step.lesson)}"][data-step="${CSS.escape(step.step)}"]`);
      if (!row) continue;
      row.classList.toggle("step-done", Boolean(step.done_at));
      row.classList.toggle("step-reached", Boolean(step.reached_at && !step.done_at));
      row.querySelector("[data-done]").textContent = step.done_at ? "✓" : "";
    }
  }
}
