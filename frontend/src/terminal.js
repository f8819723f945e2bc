// The browser terminal: xterm.js with a line editor of its own. While no command runs, keys
// edit the line here (history, cursor keys, Ctrl-A/E/U/L/C); Enter sends the line to the
// server, which parses, checks and runs it. While a command runs, keys go to it (exec -it)
// and Ctrl-C interrupts it. The server never sees a shell.
import { Terminal } from "@xterm/xterm";
import { FitAddon } from "@xterm/addon-fit";

const HISTORY_KEY = "k8s-sandbox.history";
const HISTORY_MAX = 500;

export class SandboxTerminal {
  constructor(element, socket, { prompt = "$ ", labels = {} } = {}) {
    this.socket = socket;
    this.labels = labels;
    this.promptText = prompt;
    this.line = "";
    this.cursor = 0;
    this.running = false;
    this.queue = []; // lines pasted together run one after another
    this.history = JSON.parse(localStorage.getItem(HISTORY_KEY) || "[]");
    this.historyIndex = this.history.length;
    this.term = new Terminal({
      cursorBlink: true,
      convertEol: false,
      scrollback: 5000,
      fontFamily: '"DejaVu Sans Mono", "Noto Sans Mono CJK SC", monospace',
      fontSize: 14,
      theme: { background: "#10151c" },
    });
    this.fit = new FitAddon();
    this.term.loadAddon(this.fit);
    this.term.open(element);
    this.fit.fit();
    this.term.onData((data) => this.onData(data));
    this.term.onResize(({ cols, rows }) => this.socket.send({ type: "terminal.resize", cols, rows }));
    new ResizeObserver(() => this.fit.fit()).observe(element);
    socket.on("terminal.output", (m) => this.term.write(m.data));
    socket.on("terminal.exit", () => this.finished());
    socket.on("terminal.busy", () => this.term.write(`\r\n${labels.busy || "busy"}\r\n`));
    // Staff watching this terminal may suggest a line: it only fills the prompt. Nothing runs
    // until the student presses Enter, and then it is a line they typed like any other.
    this.suggestion = null; // arrived while a command ran: offered at the next prompt
    socket.on("terminal.suggest", (m) => this.suggest(m.line, m.by));
    this.pendingLine = null; // typed before the connection was up: sent once it is
    this.offline = false; // the connection dropped (a restarting server): said once, not per retry
    socket.on("open", () => {
      this.socket.send({ type: "terminal.resize", cols: this.term.cols, rows: this.term.rows });
      const back = this.offline;
      this.offline = false;
      if (this.pendingLine !== null) {
        this.socket.send({ type: "terminal.run", line: this.pendingLine });
        this.pendingLine = null;
      } else if (this.running) {
        this.finished(); // the command died with the old connection: a new prompt
      } else if (back) {
        this.redraw(); // the prompt again below the notice, with what was being typed
      }
    });
    socket.on("close", () => {
      if (this.offline) return;
      this.offline = true;
      this.term.write(`\r\n\x1b[2m${labels.reconnecting || "reconnecting…"}\x1b[0m\r\n`);
    });
    this.term.writeln(labels.welcome || "");
    this.prompt();
  }

  focus() { this.term.focus(); }

  // Lessons call this for click-to-run commands.
  type(text, run = true) {
    if (this.running) return false;
    this.setLine(text);
    if (run) this.submit();
    this.focus();
    return true;
  }

  // Lines to run one after another (Skip runs a step's solution this way).
  runAll(lines) {
    if (!lines.length) return;
    if (this.running) { this.queue.push(...lines); return; }
    const [first, ...rest] = lines;
    this.queue.push(...rest);
    this.type(first);
  }

  prompt() {
    this.line = "";
    this.cursor = 0;
    // Start on a fresh line, but do not add an empty one after output that ended with a newline.
    const fresh = this.term.buffer.active.cursorX === 0 ? "" : "\r\n";
    this.term.write(`${fresh}\x1b[1;32m${this.promptText}\x1b[0m`);
    if (this.suggestion && !this.queue.length) {
      const { line, by } = this.suggestion;
      this.suggestion = null;
      this.suggest(line, by);
    }
  }

  suggest(line, by) {
    // Control characters are dropped here too (the server refuses them): a suggestion can
    // neither press Enter nor move the cursor.
    const text = String(line || "").replace(/[\x00-\x1f\x7f]/g, "");
    if (!text) return;
    if (this.running || this.queue.length) { this.suggestion = { line: text, by }; return; }
    const note = (this.labels.suggested || "%s suggests this line").replace("%s", String(by || ""));
    this.term.write(`\r\x1b[K\x1b[2m${note.replace(/[\x00-\x1f\x7f]/g, "")}\x1b[0m\r\n`);
    this.setLine(text);
    this.focus();
  }

  redraw() {
    const back = this.line.length - this.cursor;
    this.term.write(`\r\x1b[K\x1b[1;32m${this.promptText}\x1b[0m${this.line}` + (back ? `\x1b[${back}D` : ""));
  }

  setLine(text) {
    this.line = text;
    this.cursor = text.length;
    this.redraw();
  }

  submit() {
    const text = this.line;
    this.term.write("\r\n");
    if (!text.trim()) { this.prompt(); return; }
    if (this.history[this.history.length - 1] !== text) {
      this.history.push(text);
      this.history = this.history.slice(-HISTORY_MAX);
      localStorage.setItem(HISTORY_KEY, JSON.stringify(this.history));
    }
    this.historyIndex = this.history.length;
    if (text.trim() === "clear") { this.term.clear(); this.prompt(); return; }
    this.running = true;
    if (!this.socket.send({ type: "terminal.run", line: text })) {
      this.pendingLine = text;
      this.term.write(`\x1b[2m${this.labels.offline || "connecting…"}\x1b[0m\r\n`);
    }
  }

  // The server refused the line (too many too fast): say so, and drop the lines queued after it.
  refused(text) {
    if (!this.running) return;
    this.queue = [];
    this.term.write(`\x1b[33m${text}\x1b[0m\r\n`);
    this.finished();
  }

  finished() {
    this.running = false;
    this.prompt();
    const next = this.queue.shift();
    if (next !== undefined) this.type(next);
  }

  onData(data) {
    if (this.running) {
      if (data === "\x03") this.socket.send({ type: "terminal.interrupt" });
      else this.socket.send({ type: "terminal.input", data });
      return;
    }
    // A paste with several lines: the first completes the current line, the rest queue up.
    if (data.length > 1 && /[\r\n]/.test(data) && !data.startsWith("\x1b")) {
      const lines = data.replace(/\r\n/g, "\n").split(/[\r\n]/);
      const last = lines.pop();
      this.insert(lines.shift() || "");
      this.queue.push(...lines.filter((l) => l.trim()));
      if (last) this.queue.push(last);
      this.submit();
      return;
    }
    switch (data) {
      case "\r": this.submit(); return;
      case "\x7f": case "\b":
        if (this.cursor > 0) {
          this.line = this.line.slice(0, this.cursor - 1) + this.line.slice(this.cursor);
          this.cursor -= 1;
          this.redraw();
        }
        return;
      case "\x1b[3~":
        this.line = this.line.slice(0, this.cursor) + this.line.slice(this.cursor + 1);
        this.redraw();
        return;
      case "\x1b[D": if (this.cursor > 0) { this.cursor -= 1; this.term.write(data); } return;
      case "\x1b[C": if (this.cursor < this.line.length) { this.cursor += 1; this.term.write(data); } return;
      case "\x1b[H": case "\x01": this.cursor = 0; this.redraw(); return;
      case "\x1b[F": case "\x05": this.cursor = this.line.length; this.redraw(); return;
      case "\x1b[A":
        if (this.historyIndex > 0) { this.historyIndex -= 1; this.setLine(this.history[this.historyIndex]); }
        return;
      case "\x1b[B":
        if (this.historyIndex < this.history.length) {
          this.historyIndex += 1;
          this.setLine(this.history[this.historyIndex] || "");
        }
        return;
      case "\x03": this.term.write("^C"); this.queue = []; this.prompt(); return;
      case "\x0c": this.term.clear(); this.redraw(); return;
      case "\x15": this.setLine(this.line.slice(this.cursor)); this.cursor = 0; this.redraw(); return;
      case "\t": return; // no completion (yet): ignore rather than insert a tab
      default:
        if (data.startsWith("\x1b")) return; // other escape sequences (F-keys...) do nothing
        this.insert(data.replace(/[\x00-\x1f\x7f]/g, ""));
    }
  }

  insert(text) {
    if (!text) return;
    this.line = this.line.slice(0, this.cursor) + text + this.line.slice(this.cursor);
    this.cursor += text.length;
    this.redraw();
  }
}
