"""Declarative step checks, evaluated over what the platform reads from the cluster (with its
read-only checker identity) and from the terminal's audit log. Pure functions over plain data:
a `World` hands out objects, a check returns a Result whose message says what is missing, in
the language active when it is built.

Placeholders are rendered before a check arrives here; `namespace` defaults to the sandbox's own."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import regex
from django.utils.translation import gettext as _

from lessons.format import parse_path
from lessons.models import in_language

Raw = dict[str, Any]
REVISION = "deployment.kubernetes.io/revision"
MISSING = object()


class World(Protocol):
    @property
    def namespace(self) -> str: ...
    @property
    def namespaces(self) -> list[str]: ...

    def objects(self, kind: str, namespace: str) -> list[Raw]: ...
    def ran_lines(self) -> list[str]: ...
    def fetch(self, kind: str, name: str, port: int, path: str, namespace: str) -> tuple[int, str]: ...
    def run(self, namespace: str, pod: str, container: str | None, command: list[str]) -> tuple[int | None, str]: ...


@dataclass(frozen=True)
class Result:
    ok: bool
    message: str = ""


PASS = Result(True)


def fail(message: str) -> Result:
    return Result(False, message)


def evaluate(check: dict[str, Any], world: World) -> Result:
    kind = next(k for k in check if k != "message")
    body = check[kind]
    namespace = body.get("namespace", world.namespace)
    if namespace not in world.namespaces:
        # Validated lessons only name the sandbox's namespaces; this guards against a lesson
        # that names another one through a placeholder.
        return fail(_("This check looks at namespace %(ns)s, which is not part of your sandbox.") % {"ns": namespace})
    try:
        result = CHECKS[kind](body, namespace, world)
    except (regex.error, TimeoutError):
        # A lesson's regular expression that takes too long on what the student typed fails
        # the check instead of holding the server.
        result = fail(_("This check could not be evaluated."))
    if not result.ok and "message" in check:
        return Result(False, in_language(check["message"]))
    return result


def _live(objects: list[Raw]) -> list[Raw]:
    return [o for o in objects if not o.get("metadata", {}).get("deletionTimestamp")]


def _named(world: World, kind: str, name: str, namespace: str) -> Raw | None:
    for obj in _live(world.objects(kind, namespace)):
        if obj["metadata"].get("name") == name:
            return obj
    return None


def labels_match(labels: dict[str, str] | None, selector: dict[str, str]) -> bool:
    labels = labels or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _selected(world: World, kind: str, selector: dict[str, str], namespace: str) -> list[Raw]:
    return [o for o in _live(world.objects(kind, namespace)) if labels_match(o["metadata"].get("labels"), selector)]


def _describe_selector(selector: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in selector.items())


def _find(body: Raw, namespace: str, world: World) -> list[Raw]:
    if "name" in body:
        found = _named(world, body["kind"], body["name"], namespace)
        return [found] if found else []
    return _selected(world, body["kind"], body.get("selector") or {}, namespace)


def _what(body: Raw) -> str:
    if "name" in body:
        return f"{body['kind']} {body['name']}"
    if body.get("selector"):
        return f"{body['kind']} ({_describe_selector(body['selector'])})"
    return str(body["kind"])


def check_exists(body: Raw, namespace: str, world: World) -> Result:
    if _find(body, namespace, world):
        return PASS
    return fail(_("%(what)s does not exist yet in namespace %(ns)s.") % {"what": _what(body), "ns": namespace})


def check_absent(body: Raw, namespace: str, world: World) -> Result:
    if not _find(body, namespace, world):
        return PASS
    return fail(_("%(what)s still exists in namespace %(ns)s.") % {"what": _what(body), "ns": namespace})


def value_at(obj: Any, path: str) -> Any:
    """The value at a field path (format.parse_path), or MISSING."""
    current = obj
    for op, arg in parse_path(path):
        if op == "key":
            current = current.get(arg, MISSING) if isinstance(current, dict) else MISSING
        elif op == "index":
            current = current[arg] if isinstance(current, list) and arg < len(current) else MISSING
        else:
            key, expected = arg
            matches = (
                [i for i in current if isinstance(i, dict) and str(i.get(key)) == expected]
                if isinstance(current, list)
                else []
            )
            current = matches[0] if matches else MISSING
        if current is MISSING:
            return MISSING
    return current


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_field(body: Raw, namespace: str, world: World) -> Result:
    obj = _named(world, body["kind"], body["name"], namespace)
    if obj is None:
        return fail(_("%(what)s does not exist yet in namespace %(ns)s.") % {"what": _what(body), "ns": namespace})
    value = value_at(obj, body["path"])
    where = {"what": _what(body), "path": body["path"]}
    if value is MISSING:
        return fail(_("%(what)s has no %(path)s.") % where)
    if "equals" in body:
        if _text(value) == _text(body["equals"]):
            return PASS
        return fail(
            _("%(what)s: %(path)s is %(actual)s, expected %(expected)s.")
            % (where | {"actual": _short(value), "expected": _text(body["equals"])})
        )
    if "contains" in body:
        needle = body["contains"]
        found = any(_text(v) == needle for v in value) if isinstance(value, list) else needle in _text(value)
        if found:
            return PASS
        return fail(_("%(what)s: %(path)s does not contain %(expected)s.") % (where | {"expected": needle}))
    if regex.search(body["matches"], _text(value), timeout=0.2):
        return PASS
    return fail(
        _("%(what)s: %(path)s is %(actual)s, which does not match %(expected)s.")
        % (where | {"actual": _short(value), "expected": body["matches"]})
    )


def _short(value: Any) -> str:
    text = _text(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _pod_ready(pod: Raw) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def check_count(body: Raw, namespace: str, world: World) -> Result:
    found = _selected(world, body["kind"], body["selector"], namespace)
    if body.get("ready"):
        found = [o for o in found if _pod_ready(o)]
    count = len(found)
    params = {
        "count": count,
        "kind": body["kind"],
        "selector": _describe_selector(body["selector"]),
        "ready": _(" ready") if body.get("ready") else "",
    }
    if "equals" in body:
        if count == body["equals"]:
            return PASS
        return fail(
            _("There are %(count)s%(ready)s %(kind)s objects with labels %(selector)s; expected %(expected)s.")
            % (params | {"expected": body["equals"]})
        )
    if count >= body["at_least"]:
        return PASS
    return fail(
        _("There are %(count)s%(ready)s %(kind)s objects with labels %(selector)s; expected at least %(expected)s.")
        % (params | {"expected": body["at_least"]})
    )


def check_condition(body: Raw, namespace: str, world: World) -> Result:
    obj = _named(world, body["kind"], body["name"], namespace)
    if obj is None:
        return fail(_("%(what)s does not exist yet in namespace %(ns)s.") % {"what": _what(body), "ns": namespace})
    wanted = body.get("status", "True")
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == body["type"]:
            if condition.get("status") == wanted:
                return PASS
            break
    return fail(
        _("%(what)s is not %(condition)s yet.") % {"what": _what(body), "condition": body["type"]}
        if wanted == "True"
        else _("%(what)s: condition %(condition)s is not %(status)s.")
        % {"what": _what(body), "condition": body["type"], "status": wanted}
    )


def rollout_done(deployment: Raw) -> bool:
    """What `kubectl rollout status` waits for."""
    meta, spec, status = deployment["metadata"], deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    return bool(
        status.get("observedGeneration", 0) >= meta.get("generation", 1)
        and status.get("updatedReplicas", 0) == wanted
        and status.get("replicas", 0) == wanted
        and status.get("availableReplicas", 0) == wanted
    )


def check_rollout(body: Raw, namespace: str, world: World) -> Result:
    deployment = _named(world, "Deployment", body["deployment"], namespace)
    what = {"what": f"Deployment {body['deployment']}", "ns": namespace}
    if deployment is None:
        return fail(_("%(what)s does not exist yet in namespace %(ns)s.") % what)
    if rollout_done(deployment):
        return PASS
    status = deployment.get("status") or {}
    return fail(
        _("%(what)s is still rolling out: %(updated)s of %(wanted)s replicas updated, %(available)s available.")
        % (
            what
            | {
                "updated": status.get("updatedReplicas", 0),
                "wanted": (deployment.get("spec") or {}).get("replicas", 1),
                "available": status.get("availableReplicas", 0),
            }
        )
    )


def check_selects(body: Raw, namespace: str, world: World) -> Result:
    service = _named(world, "Service", body["service"], namespace)
    what = {"what": f"Service {body['service']}", "ns": namespace, "selector": _describe_selector(body["pods"])}
    if service is None:
        return fail(_("%(what)s does not exist yet in namespace %(ns)s.") % what)
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return fail(_("%(what)s has no selector, so it selects no pods.") % what)
    selected = _selected(world, "Pod", selector, namespace)
    if not selected:
        return fail(
            _("%(what)s selects no pods: no pod has the labels %(service)s.")
            % (what | {"service": _describe_selector(selector)})
        )
    others = [p["metadata"]["name"] for p in selected if not labels_match(p["metadata"].get("labels"), body["pods"])]
    if others:
        return fail(
            _("%(what)s also selects pods without %(selector)s: %(pods)s.")
            % (what | {"pods": ", ".join(sorted(others))})
        )
    return PASS


def _events(world: World, namespace: str, reason: str, kind: str | None, name: str | None) -> list[Raw]:
    found = []
    for event in world.objects("Event", namespace):
        involved = event.get("involvedObject") or {}
        if event.get("reason") != reason:
            continue
        if kind and involved.get("kind") != kind:
            continue
        if name and involved.get("name") != name:
            continue
        found.append(event)
    return found


def check_event(body: Raw, namespace: str, world: World) -> Result:
    events = _events(world, namespace, body["reason"], body.get("kind"), body.get("name"))
    if "message_contains" in body:
        events = [e for e in events if body["message_contains"] in (e.get("message") or "")]
    if events:
        return PASS
    target = (
        f" ({body.get('kind', '')} {body.get('name', '')})".replace("  ", " ")
        if body.get("kind") or body.get("name")
        else ""
    )
    return fail(_("No %(reason)s event%(target)s has happened yet.") % {"reason": body["reason"], "target": target})


def _event_count(world: World, namespace: str, reason: str, owner: Raw) -> int:
    meta = owner["metadata"]
    events = _events(world, namespace, reason, "ReplicaSet", meta["name"])
    return sum(
        int(e.get("count") or 1) for e in events if (e.get("involvedObject") or {}).get("uid") == meta.get("uid")
    )


def _owned_by(world: World, kind: str, owner_kind: str, owner_name: str, namespace: str) -> list[Raw]:
    return [
        o
        for o in _live(world.objects(kind, namespace))
        if any(
            r.get("kind") == owner_kind and r.get("name") == owner_name
            for r in o["metadata"].get("ownerReferences") or []
        )
    ]


def _revision(obj: Raw) -> int:
    try:
        return int((obj["metadata"].get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def check_self_healed(body: Raw, namespace: str, world: World) -> Result:
    if "deployment" in body:
        deployment = _named(world, "Deployment", body["deployment"], namespace)
        what = {"what": f"Deployment {body['deployment']}", "ns": namespace}
        if deployment is None:
            return fail(_("%(what)s does not exist yet in namespace %(ns)s.") % what)
        current = _revision(deployment)
        sets = [
            rs
            for rs in _owned_by(world, "ReplicaSet", "Deployment", body["deployment"], namespace)
            if _revision(rs) == current
        ]
        if not sets:
            return fail(_("%(what)s has no current ReplicaSet yet.") % what)
        replicaset = sets[0]
    else:
        found = _named(world, "ReplicaSet", body["replicaset"], namespace)
        what = {"what": f"ReplicaSet {body['replicaset']}", "ns": namespace}
        if found is None:
            return fail(_("%(what)s does not exist yet in namespace %(ns)s.") % what)
        replicaset = found
    wanted = (replicaset.get("spec") or {}).get("replicas", 1)
    # The ReplicaSet controller records a SuccessfulCreate per pod it makes and a SuccessfulDelete
    # per pod it removes when scaled down (repeats are counted), matched here by uid so a
    # ReplicaSet re-created under the same name starts over. Pods it made and did not remove,
    # but which are no longer there, were deleted by someone else: each was replaced. (Pods it
    # adopted are older than the ReplicaSet and are left out of the count.)
    created = _event_count(world, namespace, "SuccessfulCreate", replicaset)
    removed = _event_count(world, namespace, "SuccessfulDelete", replicaset)
    born = replicaset["metadata"].get("creationTimestamp") or ""
    alive = [
        p
        for p in _live(world.objects("Pod", namespace))
        if any(r.get("uid") == replicaset["metadata"].get("uid") for r in p["metadata"].get("ownerReferences") or [])
        and (p["metadata"].get("creationTimestamp") or "") >= born
    ]
    if created - removed - len(alive) <= 0:
        return fail(_("%(what)s has not replaced any pod yet: delete one of its pods and watch it come back.") % what)
    ready = (replicaset.get("status") or {}).get("readyReplicas", 0)
    if ready < wanted:
        return fail(
            _("%(what)s replaced a pod; %(ready)s of %(wanted)s replicas are ready so far.")
            % (what | {"ready": ready, "wanted": wanted})
        )
    return PASS


def check_history(body: Raw, namespace: str, world: World) -> Result:
    deployment = _named(world, "Deployment", body["deployment"], namespace)
    what = {"what": f"Deployment {body['deployment']}", "ns": namespace}
    if deployment is None:
        return fail(_("%(what)s does not exist yet in namespace %(ns)s.") % what)
    revisions = sorted(
        _revision(rs) for rs in _owned_by(world, "ReplicaSet", "Deployment", body["deployment"], namespace)
    )
    current = _revision(deployment)
    if "revisions_at_least" in body and len(revisions) < body["revisions_at_least"]:
        return fail(
            _("%(what)s has %(count)s revisions in its history; expected at least %(expected)s.")
            % (what | {"count": len(revisions), "expected": body["revisions_at_least"]})
        )
    if "revision_at_least" in body and current < body["revision_at_least"]:
        return fail(
            _("%(what)s is at revision %(current)s; expected revision %(expected)s or later.")
            % (what | {"current": current, "expected": body["revision_at_least"]})
        )
    if "image" in body:
        images = [
            c.get("image")
            for c in (((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
        ]
        if body["image"] not in images:
            return fail(
                _("%(what)s runs %(actual)s at its current revision, expected %(expected)s.")
                % (what | {"actual": ", ".join(str(i) for i in images) or "-", "expected": body["image"]})
            )
    return PASS


RAN_BUDGET = 0.25  # seconds for one `ran` check over all the lines, not per line


def check_ran(body: Raw, namespace: str, world: World) -> Result:
    pattern = regex.compile(body["matches"])
    deadline = time.monotonic() + RAN_BUDGET
    for line in world.ran_lines():
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("ran check budget spent")
        if pattern.search(line, timeout=left):
            return PASS
    return fail(_("Run the command of this step in the terminal (it has not run successfully yet)."))


def check_http(body: Raw, namespace: str, world: World) -> Result:
    kind, name = ("Service", body["service"]) if "service" in body else ("Pod", body["pod"])
    path = body.get("path", "/")
    status, text = world.fetch(kind, name, body["port"], path, namespace)
    where = f"{kind} {name}:{body['port']}{path}"
    wanted = body.get("status", 200)
    if status != wanted:
        return fail(
            _("A request to %(where)s answered %(status)s, not %(wanted)s: %(text)s")
            % {"where": where, "status": status or _("nothing"), "wanted": wanted, "text": " ".join(text.split())[:160]}
        )
    if "contains" in body and body["contains"] not in text:
        return fail(
            _("%(where)s answers, but its page does not show %(wanted)s yet.")
            % {"where": where, "wanted": body["contains"]}
        )
    return PASS


def _running(pod: Raw) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running"


def check_exec(body: Raw, namespace: str, world: World) -> Result:
    if "pod" in body:
        pod = _named(world, "Pod", body["pod"], namespace)
        if pod is None:
            return fail(_("Pod %(name)s does not exist yet.") % {"name": body["pod"]})
        if not _running(pod):
            return fail(_("Pod %(name)s is not running yet.") % {"name": body["pod"]})
    else:
        ready = sorted(
            (p for p in _selected(world, "Pod", body["selector"], namespace) if _running(p) and _pod_ready(p)),
            key=lambda p: p["metadata"]["name"],
        )
        if not ready:
            return fail(
                _("No ready Pod with labels %(selector)s runs yet.")
                % {"selector": _describe_selector(body["selector"])}
            )
        pod = ready[0]
    name = pod["metadata"]["name"]
    command = " ".join(body["command"])
    status, output = world.run(namespace, name, body.get("container"), body["command"])
    said = " ".join(output.split())[:160]
    wanted = body.get("exit", 0)
    if status != wanted:
        return fail(
            _("`%(command)s` in Pod %(pod)s ended with %(status)s, not %(wanted)s: %(output)s")
            % {
                "command": command,
                "pod": name,
                "status": _("no exit status") if status is None else status,
                "wanted": wanted,
                "output": said,
            }
        )
    if "contains" in body and body["contains"] not in output:
        return fail(
            _("`%(command)s` in Pod %(pod)s does not print %(wanted)s yet (it printed: %(output)s).")
            % {"command": command, "pod": name, "wanted": body["contains"], "output": said}
        )
    if "matches" in body and not regex.compile(body["matches"]).search(output, timeout=RAN_BUDGET):
        return fail(
            _("`%(command)s` in Pod %(pod)s does not print what this step expects yet (it printed: %(output)s).")
            % {"command": command, "pod": name, "output": said}
        )
    return PASS


CHECKS: dict[str, Callable[[Raw, str, World], Result]] = {
    "exists": check_exists,
    "absent": check_absent,
    "field": check_field,
    "count": check_count,
    "condition": check_condition,
    "rollout": check_rollout,
    "selects": check_selects,
    "event": check_event,
    "self_healed": check_self_healed,
    "history": check_history,
    "http": check_http,
    "exec": check_exec,
    "ran": check_ran,
}

# The kinds each check reads besides the one it names (World.objects): the web process asks
# the live view's watcher for exactly these (lessons/engine.py), instead of listing them.
READS: dict[str, tuple[str, ...]] = {
    "rollout": ("Deployment",),
    "selects": ("Service", "Pod"),
    "event": ("Event",),
    "self_healed": ("Deployment", "ReplicaSet", "Event", "Pod"),
    "history": ("Deployment", "ReplicaSet"),
    "http": (),
    "exec": ("Pod",),
    "ran": (),
}


def kinds_read(check: dict[str, Any]) -> set[str]:
    """The kinds a check reads through World.objects."""
    kind = next(k for k in check if k != "message")
    if kind in READS:
        return set(READS[kind])
    return {check[kind]["kind"]}
