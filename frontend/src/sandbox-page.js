// The sandbox page: terminal + workspace files, over the page's WebSocket.
import { PageSocket } from "./socket.js";
import { SandboxTerminal } from "./terminal.js";
import { setupFiles } from "./files.js";
import { LiveView } from "./liveview.js";
import { setupLesson } from "./lesson.js";
import "./shadow-page.js"; // the staff's watch page (classroom), which shares this bundle

const page = document.getElementById("sandbox-page");
if (page) {
  const labels = JSON.parse(document.getElementById("terminal-labels").textContent);
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new PageSocket(`${scheme}://${location.host}/ws/sandbox/`);
  const terminal = new SandboxTerminal(document.getElementById("terminal"), socket, { labels });
  window.sandboxTerminal = terminal; // lessons' click-to-run buttons use it
  new LiveView(document.getElementById("live-view"), socket, labels);
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const files = setupFiles(document.getElementById("files"), csrf, labels);
  socket.on("editor.open", (message) => files.refresh(message.name)); // kubectl edit
  socket.on("forward.open", (message) => { // kubectl port-forward: a link, not a port on the server
    const list = document.getElementById("forwards");
    const link = Object.assign(document.createElement("a"), {
      href: message.url, target: "_blank", rel: "noopener", textContent: `${message.pod}:${message.port}`,
    });
    const item = document.createElement("li");
    item.append(link);
    list.append(item);
    list.hidden = false;
  });
  // The server's limits: a refused message is answered with a typed error, said here for as
  // long as the wait; a refused line gives the terminal its prompt back.
  const notice = document.getElementById("socket-notice");
  let noticeTimer;
  socket.on("error", (message) => {
    if (message.code !== "rate_limited") return;
    notice.textContent = message.message;
    notice.hidden = false;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { notice.hidden = true; }, Math.max(3000, message.retry_after * 1000));
    if (message.kind === "terminal.run") terminal.refused(message.message);
  });
  // The sandbox panel (static/js/sandbox.js) follows the sandbox's state from the socket: the
  // hello of every connection, then each change the workers announce.
  const announce = (sandbox) => document.dispatchEvent(new CustomEvent("sandbox:status", { detail: sandbox }));
  socket.on("hello", (message) => {
    // No live sandbox may still mean a place in line, which only the status request tells.
    if (message.sandbox) announce(message.sandbox); else document.dispatchEvent(new Event("sandbox:refresh"));
  });
  socket.on("sandbox.status", (message) => announce(message.sandbox));
  // The live view subscribes when the socket opens; a sandbox that becomes ready later (started
  // from this page) needs a new subscription.
  document.addEventListener("sandbox:ready", () => socket.send({ type: "cluster.subscribe" }));
  // Staff watching this terminal (they see it, they cannot type in it): named here, live.
  const watching = document.getElementById("watching");
  socket.on("open", () => socket.send({ type: "shadow.who" }));
  socket.on("shadow.watchers", (message) => {
    const names = message.names || [];
    watching.textContent = names.length ? (labels.watching || "%s").replace("%s", names.join(", ")) : "";
    watching.hidden = !names.length;
  });
  if (page.dataset.lesson) {
    setupLesson(document.getElementById("lesson"), { socket, terminal, files, labels, slug: page.dataset.lesson });
  }
  terminal.focus();
}
