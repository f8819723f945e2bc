// The lesson pane: step status from the server (lesson.state), the Check/Hint/Skip/Reset
// buttons, click-to-run commands, copy buttons and "open in the editor" links.
export function setupLesson(root, { socket, terminal, files, labels, slug }) {
  const language = document.documentElement.lang || "en";
  const steps = new Map([...root.querySelectorAll("[data-step]")].map((el) => [el.dataset.step, el]));
  const statusOf = new Map();
  const error = root.querySelector("#lesson-error");

  const open = () => socket.send({ type: "lesson.open", slug, language });
  socket.on("open", open);

  socket.on("lesson.state", (message) => {
    error.hidden = true;
    for (const step of message.steps) render(step);
    root.querySelector("#lesson-complete").hidden = !message.complete;
  });
  socket.on("lesson.error", (message) => { error.textContent = message.message; error.hidden = false; });
  socket.on("lesson.run", (message) => terminal.runAll(message.lines));
  socket.on("lesson.files", () => files.refresh());
  // A hint the class's instructor sent to a group of students stuck on the same problem: text
  // only (textContent), never markup.
  socket.on("class.hint", (message) => {
    if (message.lesson !== slug) return;
    const box = root.querySelector("#class-hint");
    box.querySelector("strong").textContent = (labels.hintFrom || "%s").replace("%s", message.by);
    box.querySelector("span").textContent = message.text;
    box.hidden = false;
  });

  function render(step) {
    const el = steps.get(step.key);
    if (!el) return;
    const before = statusOf.get(step.key);
    statusOf.set(step.key, step.status);
    el.className = `step step-${step.status}`;
    el.querySelector("[data-status]").textContent = labels[step.status] || step.status;
    const failures = el.querySelector("[data-failures]");
    failures.replaceChildren(...step.failures.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
    el.querySelector("[data-hints]").replaceChildren(
      ...step.hints.map((text) => Object.assign(document.createElement("li"), { textContent: text })));
    const hint = el.querySelector('[data-action="hint"]');
    if (hint) hint.disabled = !step.more_hints;
    const details = el.querySelector("details");
    if (step.status === "current") details.open = true;
    if (before === "current" && (step.status === "done" || step.status === "skipped")) {
      el.classList.add("just-done");
      details.open = false;
      announce(labels.stepDone.replace("%s", el.querySelector(".step-title").textContent));
    }
  }

  // Screen readers hear a step complete, whatever has the focus (usually the terminal).
  function announce(text) {
    root.querySelector("#lesson-announce").textContent = text;
  }

  root.addEventListener("click", (event) => {
    const target = event.target.closest("[data-action], [data-run], [data-copy], [data-open-file]");
    if (!target) return;
    if (target.dataset.run !== undefined) {
      terminal.runAll([target.dataset.run]);
    } else if (target.dataset.copy !== undefined) {
      navigator.clipboard?.writeText(target.dataset.copy).then(() => {
        const text = target.textContent;
        target.textContent = labels.copied;
        setTimeout(() => { target.textContent = text; }, 1200);
      });
    } else if (target.dataset.openFile !== undefined) {
      event.preventDefault();
      files.open(target.dataset.openFile);
    } else {
      const action = target.dataset.action;
      const step = target.closest("[data-step]")?.dataset.step;
      if (action === "reset" && !confirm(labels.confirmReset)) return;
      if (action === "check") target.closest("[data-step]")?.querySelector("[data-status]")?.replaceChildren(labels.checking);
      socket.send({ type: `lesson.${action}`, step });
      if (action === "reset") document.dispatchEvent(new Event("sandbox:refresh"));
    }
  });

  // When the sandbox becomes ready (started from this page), open the lesson again: that hands
  // out its files and checks the first step.
  document.addEventListener("sandbox:ready", () => { open(); files.refresh(); });
}
