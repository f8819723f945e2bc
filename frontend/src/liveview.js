// The live picture of the student's namespace: Deployments -> ReplicaSets -> Pods, Services
// and the pods they select (so a blue-green switch is visible), ConfigMaps, Ingresses and an
// events timeline. A snapshot comes first, then every change; a change older than what we
// already show (by resourceVersion) is ignored, so a late event never rolls the picture back.
const RECENT_MS = 1500;

const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

const matches = (selector, labels) =>
  Object.keys(selector || {}).length > 0 && Object.entries(selector).every(([k, v]) => (labels || {})[k] === v);

export class LiveView {
  constructor(root, socket, labels) {
    this.root = root;
    this.labels = labels;
    this.objects = new Map();
    this.firstSeen = new Map();
    this.animated = new Set(); // each pod's entrance animates once, not on every redraw
    this.pending = false;
    socket.on("open", () => socket.send({ type: "cluster.subscribe" }));
    socket.on("cluster.snapshot", (m) => this.reset(m.objects));
    socket.on("cluster.event", (m) => this.apply(m.op, m.object));
    this.render();
  }

  key(o) { return `${o.kind}/${o.name}`; }

  reset(objects) {
    this.objects = new Map(objects.map((o) => [this.key(o), o]));
    this.schedule();
  }

  apply(op, object) {
    const key = this.key(object);
    const known = this.objects.get(key);
    if (known && Number(known.resourceVersion) > Number(object.resourceVersion)) return;
    if (op === "DELETED") {
      if (!known) return;
      known.deleting = true;
      known.phase = known.kind === "Pod" ? "Terminating" : known.phase;
      known.gone = true;
      setTimeout(() => { if (this.objects.get(key) === known) { this.objects.delete(key); this.schedule(); } }, 900);
    } else {
      if (!known) this.firstSeen.set(key, Date.now());
      this.objects.set(key, object);
    }
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.render(); });
  }

  of(kind) { return [...this.objects.values()].filter((o) => o.kind === kind); }

  podChip(pod) {
    const state = pod.deleting ? "terminating" : pod.problem ? "problem" : pod.ready ? "ready" :
      (pod.phase || "pending").toLowerCase();
    const chip = el("span", `pod pod-${state}`, pod.name);
    // ErrImagePull, CrashLoopBackOff, OOMKilled...: said on the chip, as kubectl's STATUS column does.
    if (pod.problem) chip.append(el("span", "pod-problem-reason", ` ${pod.problem}`));
    const key = this.key(pod);
    if (!this.animated.has(key) && Date.now() - (this.firstSeen.get(key) || 0) < RECENT_MS) {
      chip.classList.add("appear");
      this.animated.add(key);
    }
    chip.title = `${pod.phase}${pod.ready ? ", ready" : ""} · ${pod.images.join(", ")}` +
      (pod.ip ? ` · ${pod.ip}` : "") + (pod.restarts ? ` · ${this.labels.restarts} ${pod.restarts}` : "") +
      (pod.problem ? ` · ${pod.problem}: ${pod.problemMessage || ""}` : "");
    chip.dataset.name = pod.name;
    chip.dataset.state = state;
    return chip;
  }

  workload(kind, obj, children) {
    const box = el("div", `workload workload-${kind.toLowerCase()}`);
    const head = el("div", "workload-head");
    head.append(el("strong", "", `${kind.toLowerCase()}/${obj.name}`));
    head.append(el("span", "muted", ` ${obj.readyReplicas || 0}/${obj.replicas} ${this.labels.ready}`));
    if (obj.revision) head.append(el("span", "badge", `rev ${obj.revision}`));
    head.append(el("span", "image", obj.images.join(", ")));
    box.append(head);
    if (children.length) {
      const list = el("div", "children");
      list.append(...children);
      box.append(list);
    }
    return box;
  }

  render() {
    const root = this.root;
    root.replaceChildren();
    const pods = this.of("Pod").sort((a, b) => a.name.localeCompare(b.name));
    const replicaSets = this.of("ReplicaSet");
    const podsOf = (owner) => pods.filter((p) => p.owner === owner).map((p) => this.podChip(p));
    const rsBox = (rs) => this.workload("ReplicaSet", rs, podsOf(`ReplicaSet/${rs.name}`));

    const section = (title, nodes) => {
      if (!nodes.length) return;
      const box = el("section", "live-section");
      box.append(el("h3", "", title), ...nodes);
      root.append(box);
    };

    section(this.labels.deployments, this.of("Deployment").map((d) => {
      // Old ReplicaSets stay listed (scaled to 0): they are the rollout history `undo` uses.
      const sets = replicaSets.filter((rs) => rs.owner === `Deployment/${d.name}`)
        .sort((a, b) => Number(b.revision) - Number(a.revision));
      return this.workload("Deployment", d, sets.map(rsBox));
    }));
    section(this.labels.replicaSets, replicaSets.filter((rs) => !rs.owner).map(rsBox));
    const loose = pods.filter((p) => !p.owner || !p.owner.startsWith("ReplicaSet/"));
    if (loose.length) {
      const chips = el("div", "children");
      chips.append(...loose.map((p) => this.podChip(p)));
      section(this.labels.pods, [chips]);
    }
    section(this.labels.services, this.of("Service").map((svc) => {
      const row = el("div", "service");
      const ports = svc.ports.map((p) => `${p.port}${p.nodePort ? ":" + p.nodePort : ""}`).join(", ");
      row.append(el("strong", "", `service/${svc.name}`), el("span", "muted", ` ${svc.type} ${svc.clusterIP || ""} ${ports}`));
      // A NodePort opens through the platform (the node's address is not reachable from here).
      for (const p of svc.ports.filter((port) => port.nodePort)) {
        const open = el("a", "nodeport-link", ` ${this.labels.openNodePort} ${p.nodePort}`);
        open.href = `/sandbox/nodeport/${p.nodePort}/`;
        open.target = "_blank";
        open.rel = "noopener";
        row.append(open);
      }
      const selected = pods.filter((p) => !p.deleting && matches(svc.selector, p.labels));
      const arrow = el("div", "selects");
      arrow.append(el("span", "muted", `${this.labels.selects} ${Object.entries(svc.selector).map(([k, v]) => `${k}=${v}`).join(",") || "—"} → `));
      arrow.append(...(selected.length ? selected.map((p) => this.podChip(p)) : [el("span", "muted", this.labels.noPods)]));
      row.append(arrow);
      return row;
    }));
    section(this.labels.configMaps, this.of("ConfigMap").filter((c) => c.name !== "kube-root-ca.crt")
      .map((c) => el("div", "", `configmap/${c.name}: ${c.keys.join(", ")}`)));
    section(this.labels.ingresses, this.of("Ingress").map((ing) =>
      el("div", "", `ingress/${ing.name}: ` + ing.rules.map((r) => r.paths.map((p) => `${r.host}${p.path} → ${p.service}`).join(", ")).join("; "))));
    const events = this.of("Event").sort((a, b) => String(b.time).localeCompare(String(a.time))).slice(0, 12);
    if (events.length) {
      const list = el("ol", "events");
      list.append(...events.map((e) => {
        const item = el("li", e.type === "Warning" ? "warning" : "");
        item.append(el("span", "muted", `${(e.time || "").slice(11, 19)} `), el("strong", "", e.reason), ` ${e.object}: ${e.message}`);
        return item;
      }));
      section(this.labels.events, [list]);
    }
    if (!root.children.length) root.append(el("p", "muted", this.labels.liveEmpty));
  }
}
