"""The declarative checks over plain data (what the checker reads from the API server)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.utils import translation

from lessons import checks, format

NS = "sb-1"


@dataclass
class DataWorld:
    """The checks' view of a sandbox, from literal objects (the shape the API returns)."""

    items: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    pages: dict[str, tuple[int, str]] = field(default_factory=dict)
    outputs: dict[str, tuple[int | None, str]] = field(default_factory=dict)
    commands: list[str] = field(default_factory=list)
    namespace: str = NS
    namespaces: list[str] = field(default_factory=lambda: [NS, f"{NS}-db"])

    def objects(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        return [o for o in self.items.get(kind, []) if o["metadata"].get("namespace", NS) == namespace]

    def ran_lines(self) -> list[str]:
        return self.lines

    def fetch(self, kind: str, name: str, port: int, path: str, namespace: str) -> tuple[int, str]:
        return self.pages.get(
            f"{namespace}/{kind}/{name}:{port}{path}", (503, 'no endpoints available for service "x"')
        )

    def run(self, namespace: str, pod: str, container: str | None, command: list[str]) -> tuple[int | None, str]:
        key = f"{namespace}/{pod}/{container or ''}: {' '.join(command)}"
        self.commands.append(key)
        return self.outputs.get(key, (None, "unable to upgrade connection: container not found"))


def pod(
    name: str, labels: dict[str, str] | None = None, *, ready: bool = True, image: str = "web:1", **meta: Any
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "labels": labels or {}, **meta},
        "spec": {"containers": [{"name": "web", "image": image, "env": [{"name": "DB", "value": "mysql.sb-1-db"}]}]},
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def run(check: dict[str, Any], world: DataWorld) -> checks.Result:
    return checks.evaluate(check, world)


def test_exists_and_absent_by_name_and_selector() -> None:
    world = DataWorld({"Pod": [pod("web", {"app": "web"})]})
    assert run({"exists": {"kind": "Pod", "name": "web"}}, world).ok
    assert run({"exists": {"kind": "Pod", "selector": {"app": "web"}}}, world).ok
    missing = run({"exists": {"kind": "Pod", "name": "db"}}, world)
    assert not missing.ok
    assert missing.message == "Pod db does not exist yet in namespace sb-1."
    assert not run({"absent": {"kind": "Pod", "name": "web"}}, world).ok
    assert run({"absent": {"kind": "Service", "name": "web"}}, world).ok


def test_an_object_being_deleted_no_longer_counts() -> None:
    world = DataWorld({"Pod": [pod("web", deletionTimestamp="2026-01-01T00:00:00Z")]})
    assert run({"absent": {"kind": "Pod", "name": "web"}}, world).ok


def test_field_equals_contains_matches_with_paths() -> None:
    world = DataWorld({"Pod": [pod("web", {"app.kubernetes.io/name": "web"})]})
    assert run(
        {"field": {"kind": "Pod", "name": "web", "path": "spec.containers[0].image", "equals": "web:1"}}, world
    ).ok
    assert run(
        {"field": {"kind": "Pod", "name": "web", "path": 'metadata.labels["app.kubernetes.io/name"]', "equals": "web"}},
        world,
    ).ok
    env = "spec.containers[name=web].env[name=DB].value"
    assert run({"field": {"kind": "Pod", "name": "web", "path": env, "contains": "mysql"}}, world).ok
    assert run({"field": {"kind": "Pod", "name": "web", "path": env, "matches": r"^mysql\.sb-1-db$"}}, world).ok
    wrong = run({"field": {"kind": "Pod", "name": "web", "path": "spec.containers[0].image", "equals": "web:2"}}, world)
    assert wrong.message == "Pod web: spec.containers[0].image is web:1, expected web:2."
    nothing = run({"field": {"kind": "Pod", "name": "web", "path": "spec.containers[3].image", "equals": "x"}}, world)
    assert nothing.message == "Pod web has no spec.containers[3].image."


def test_count_and_ready_pods() -> None:
    world = DataWorld(
        {"Pod": [pod("a", {"app": "web"}), pod("b", {"app": "web"}, ready=False), pod("c", {"app": "db"})]}
    )
    assert run({"count": {"kind": "Pod", "selector": {"app": "web"}, "equals": 2}}, world).ok
    assert run({"count": {"kind": "Pod", "selector": {"app": "web"}, "at_least": 1, "ready": True}}, world).ok
    result = run({"count": {"kind": "Pod", "selector": {"app": "web"}, "equals": 2, "ready": True}}, world)
    assert result.message == "There are 1 ready Pod objects with labels app=web; expected 2."


def test_condition() -> None:
    world = DataWorld({"Pod": [pod("a", ready=False)]})
    result = run({"condition": {"kind": "Pod", "name": "a", "type": "Ready"}}, world)
    assert result.message == "Pod a is not Ready yet."
    assert run({"condition": {"kind": "Pod", "name": "a", "type": "Ready", "status": "False"}}, world).ok


def deployment(
    generation: int = 2, observed: int = 2, updated: int = 3, available: int = 3, total: int = 3, revision: str = "2"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "web",
            "namespace": NS,
            "generation": generation,
            "annotations": {checks.REVISION: revision},
        },
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "web", "image": "web:2"}]}}},
        "status": {
            "observedGeneration": observed,
            "updatedReplicas": updated,
            "availableReplicas": available,
            "replicas": total,
        },
    }


def test_rollout_complete_only_when_every_replica_is_updated_and_available() -> None:
    assert run({"rollout": {"deployment": "web"}}, DataWorld({"Deployment": [deployment()]})).ok
    for stale in (deployment(observed=1), deployment(updated=2), deployment(available=2), deployment(total=4)):
        result = run({"rollout": {"deployment": "web"}}, DataWorld({"Deployment": [stale]}))
        assert not result.ok
        assert "still rolling out" in result.message


def service(selector: dict[str, str]) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": NS}, "spec": {"selector": selector}}


def test_selects_needs_a_match_and_only_pods_with_the_label() -> None:
    pods = [pod("blue", {"app": "web", "version": "1"}), pod("green", {"app": "web", "version": "2"})]
    check = {"selects": {"service": "web", "pods": {"version": "2"}}}
    assert run(check, DataWorld({"Pod": pods, "Service": [service({"app": "web", "version": "2"})]})).ok
    both = run(check, DataWorld({"Pod": pods, "Service": [service({"app": "web"})]}))
    assert both.message == "Service web also selects pods without version=2: blue."
    none = run(check, DataWorld({"Pod": pods, "Service": [service({"app": "nope"})]}))
    assert "selects no pods" in none.message
    assert "no selector" in run(check, DataWorld({"Pod": pods, "Service": [service({})]})).message


def event(reason: str, kind: str, name: str, message: str = "", count: int = 1, uid: str = "") -> dict[str, Any]:
    return {
        "metadata": {"name": f"{name}.1", "namespace": NS},
        "reason": reason,
        "involvedObject": {"kind": kind, "name": name, "uid": uid or f"uid-{name}"},
        "message": message,
        "count": count,
    }


def test_event_by_reason_object_and_message() -> None:
    world = DataWorld({"Event": [event("Scheduled", "Pod", "web", "Successfully assigned sb-1/web to node-1")]})
    assert run({"event": {"reason": "Scheduled", "kind": "Pod", "name": "web", "message_contains": "node-1"}}, world).ok
    assert not run({"event": {"reason": "Scheduled", "name": "db"}}, world).ok
    assert run({"event": {"reason": "Killing"}}, world).message == "No Killing event has happened yet."


def replicaset(
    name: str, owner: str | None = None, revision: str = "1", ready: int = 3, replicas: int = 3
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": NS,
        "uid": f"uid-{name}",
        "creationTimestamp": "2026-01-01T10:00:00Z",
        "annotations": {checks.REVISION: revision},
    }
    if owner:
        meta["ownerReferences"] = [{"kind": "Deployment", "name": owner, "controller": True}]
    return {"metadata": meta, "spec": {"replicas": replicas}, "status": {"readyReplicas": ready}}


def created(name: str, count: int, uid: str = "") -> list[dict[str, Any]]:
    return [event("SuccessfulCreate", "ReplicaSet", name, f"Created pod: {name}-{i}", uid=uid) for i in range(count)]


def owned(rs: str, *names: str, at: str = "2026-01-01T10:00:05Z") -> list[dict[str, Any]]:
    ref = {"kind": "ReplicaSet", "name": rs, "uid": f"uid-{rs}", "controller": True}
    return [pod(n, {"app": "web"}, ownerReferences=[ref], creationTimestamp=at) for n in names]


def test_self_healed_needs_a_replacement_and_all_replicas_back() -> None:
    check = {"self_healed": {"replicaset": "web"}}
    world = DataWorld(
        {"ReplicaSet": [replicaset("web")], "Event": created("web", 3), "Pod": owned("web", "a", "b", "c")}
    )
    assert "has not replaced any pod" in run(check, world).message
    # b was deleted; d replaced it.
    world.items |= {"Event": created("web", 4), "Pod": owned("web", "a", "c", "d")}
    world.items["ReplicaSet"] = [replicaset("web", ready=2)]
    assert "2 of 3" in run(check, world).message
    world.items["ReplicaSet"] = [replicaset("web")]
    assert run(check, world).ok


def test_scaling_up_and_down_is_not_self_healing() -> None:
    check = {"self_healed": {"replicaset": "web"}}
    deleted = [event("SuccessfulDelete", "ReplicaSet", "web", f"Deleted pod: web-{i}") for i in (3, 4)]
    pods = owned("web", "a", "b", "c")
    world = DataWorld({"ReplicaSet": [replicaset("web")], "Event": [*created("web", 5), *deleted], "Pod": pods})
    assert not run(check, world).ok
    five = owned("web", "a", "b", "c", "d", "e")
    bigger = DataWorld(
        {"ReplicaSet": [replicaset("web", replicas=5, ready=5)], "Event": created("web", 5), "Pod": five}
    )
    assert not run(check, bigger).ok


def test_events_of_an_earlier_replicaset_with_the_same_name_do_not_count() -> None:
    check = {"self_healed": {"replicaset": "web"}}
    events = [*created("web", 3, uid="uid-old"), *created("web", 3)]
    world = DataWorld({"ReplicaSet": [replicaset("web")], "Event": events, "Pod": owned("web", "a", "b", "c")})
    assert not run(check, world).ok


def test_an_adopted_pod_does_not_hide_a_replacement() -> None:
    # A leftover pod with matching labels was adopted; the ReplicaSet made only two.
    check = {"self_healed": {"replicaset": "web"}}
    adopted = owned("web", "old", at="2026-01-01T09:00:00Z")
    world = DataWorld(
        {"ReplicaSet": [replicaset("web")], "Event": created("web", 2), "Pod": [*adopted, *owned("web", "a", "b")]}
    )
    assert not run(check, world).ok
    world.items |= {"Event": created("web", 3), "Pod": [*adopted, *owned("web", "b", "c")]}
    assert run(check, world).ok


def test_self_healed_through_a_deployment_uses_its_current_replicaset() -> None:
    world = DataWorld(
        {
            "Deployment": [deployment(revision="2")],
            "ReplicaSet": [replicaset("web-old", "web", "1"), replicaset("web-new", "web", "2")],
            "Event": [event("SuccessfulCreate", "ReplicaSet", "web-new", "x", count=4), *created("web-old", 9)],
            "Pod": owned("web-new", "a", "b", "c"),
        }
    )
    assert run({"self_healed": {"deployment": "web"}}, world).ok
    world.items["Event"] = [event("SuccessfulCreate", "ReplicaSet", "web-new", "x", count=3), *created("web-old", 9)]
    assert not run({"self_healed": {"deployment": "web"}}, world).ok


def test_history_revisions_current_revision_and_image() -> None:
    world = DataWorld(
        {
            "Deployment": [deployment(revision="3")],
            "ReplicaSet": [replicaset("a", "web", "2"), replicaset("b", "web", "3"), replicaset("other", None, "9")],
        }
    )
    assert run(
        {"history": {"deployment": "web", "revisions_at_least": 2, "revision_at_least": 3, "image": "web:2"}}, world
    ).ok
    assert "2 revisions" in run({"history": {"deployment": "web", "revisions_at_least": 3}}, world).message
    assert "revision 3" in run({"history": {"deployment": "web", "revision_at_least": 4}}, world).message
    assert "runs web:2" in run({"history": {"deployment": "web", "image": "web:1"}}, world).message


def test_ran_looks_at_the_lines_run_successfully() -> None:
    check = {"ran": {"matches": r"^kubectl get nodes"}}
    assert not run(check, DataWorld(lines=["kubectl get pods"])).ok
    assert run(check, DataWorld(lines=["kubectl get pods", "kubectl get nodes -o wide"])).ok


def test_a_check_outside_the_sandbox_namespaces_fails() -> None:
    world = DataWorld({"Pod": [pod("web")]})
    assert run({"exists": {"kind": "Pod", "name": "web", "namespace": f"{NS}-db"}}, world).message.startswith("Pod web")
    result = run({"exists": {"kind": "Pod", "name": "web", "namespace": "kube-system"}}, world)
    assert result.message == "This check looks at namespace kube-system, which is not part of your sandbox."


def test_messages_follow_the_language_and_the_lesson_may_replace_them() -> None:
    world = DataWorld()
    with translation.override("zh-hans"):
        assert run({"exists": {"kind": "Pod", "name": "web"}}, world).message == "名字空间 sb-1 中还没有 Pod web。"
        custom = {"exists": {"kind": "Pod", "name": "web"}, "message": {"en": "Create it.", "zh-hans": "创建它。"}}
        assert run(custom, world).message == "创建它。"
    assert run(custom, world).message == "Create it."


@pytest.mark.parametrize(
    ("path", "parsed"),
    [
        ("spec.replicas", [("key", "spec"), ("key", "replicas")]),
        ("a[0].b", [("key", "a"), ("index", 0), ("key", "b")]),
        (
            'metadata.labels["app.kubernetes.io/name"]',
            [("key", "metadata"), ("key", "labels"), ("key", "app.kubernetes.io/name")],
        ),
        ("c[name=web].image", [("key", "c"), ("where", ("name", "web")), ("key", "image")]),
    ],
)
def test_field_paths(path: str, parsed: list[tuple[str, Any]]) -> None:
    assert format.parse_path(path) == parsed


@pytest.mark.parametrize("path", [".spec", "spec..x", "a[", "a[x]", "spec;rm", "a b"])
def test_bad_field_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match="cannot read the path"):
        format.parse_path(path)


def test_a_slow_regular_expression_fails_the_check_instead_of_holding_the_server() -> None:
    slow = {"ran": {"matches": "^(a|aa)+$"}}  # a lesson that slipped past validation
    world = DataWorld(lines=["a" * 40 + "!"] * 3)
    result = run(slow, world)
    assert not result.ok
    assert result.message == "This check could not be evaluated."
    assert format.regex_problems("^(a|aa)+$") == [
        "the regular expression '^(a|aa)+$' can take exponential time (nested repetition); simplify it"
    ]
    assert format.regex_problems(r"^kubectl\s+get\s+nodes") == []


def test_http_checks_what_the_application_serves() -> None:
    world = DataWorld(pages={f"{NS}/Service/web:8080/": (200, "<h1>Spring PetClinic 1.0.1.RELEASE</h1>")})
    assert run({"http": {"service": "web", "port": 8080, "contains": "1.0.1.RELEASE"}}, world).ok
    old = run({"http": {"service": "web", "port": 8080, "contains": "1.0.0.RELEASE"}}, world)
    assert not old.ok
    assert old.message == "Service web:8080/ answers, but its page does not show 1.0.0.RELEASE yet."
    down = run({"http": {"pod": "web", "port": 8080, "path": "/health"}}, world)
    assert not down.ok
    assert down.message.startswith("A request to Pod web:8080/health answered 503, not 200: no endpoints")
    world.pages[f"{NS}/Pod/web:8080/health"] = (500, "DOWN")
    assert run({"http": {"pod": "web", "port": 8080, "path": "/health", "status": 500}}, world).ok


def test_an_http_check_names_a_service_or_a_pod() -> None:
    assert format.check_problems({"http": {"port": 80}}) == ["an http check names exactly one of service, pod"]
    assert format.check_problems({"http": {"service": "a", "pod": "b", "port": 80}})
    assert format.check_problems({"http": {"service": "a", "port": 80, "path": "/"}}) == []


def running(name: str, labels: dict[str, str] | None = None, *, ready: bool = True) -> dict[str, Any]:
    made = pod(name, labels, ready=ready)
    made["status"]["phase"] = "Running"
    return made


def test_exec_checks_what_a_command_prints_in_the_container() -> None:
    world = DataWorld(
        {"Pod": [running("web-b", {"app": "web"}), running("web-a", {"app": "web"}), running("db", {"app": "db"})]},
        outputs={f"{NS}/web-a/: printenv GREETING": (0, "hello\n"), f"{NS}/db/: nslookup mysql": (1, "NXDOMAIN\n")},
    )
    # A selector picks the first ready running Pod by name.
    assert run(
        {"exec": {"selector": {"app": "web"}, "command": ["printenv", "GREETING"], "contains": "hello"}}, world
    ).ok
    assert world.commands == [f"{NS}/web-a/: printenv GREETING"]
    assert run({"exec": {"pod": "web-a", "command": ["printenv", "GREETING"], "matches": "^hel+o$"}}, world).ok
    other = run({"exec": {"pod": "web-a", "command": ["printenv", "GREETING"], "contains": "bonjour"}}, world)
    assert not other.ok
    assert other.message == "`printenv GREETING` in Pod web-a does not print bonjour yet (it printed: hello)."
    failed = run({"exec": {"pod": "db", "command": ["nslookup", "mysql"]}}, world)
    assert failed.message == "`nslookup mysql` in Pod db ended with 1, not 0: NXDOMAIN"
    assert run({"exec": {"pod": "db", "command": ["nslookup", "mysql"], "exit": 1, "contains": "NXDOMAIN"}}, world).ok
    refused = run({"exec": {"pod": "web-b", "command": ["true"]}}, world)
    assert refused.message.startswith("`true` in Pod web-b ended with no exit status, not 0: unable to upgrade")


def test_exec_waits_for_a_running_pod_before_running_anything() -> None:
    pending = pod("web", {"app": "web"})
    world = DataWorld({"Pod": [pending, running("slow", {"app": "web"}, ready=False)]})
    assert run({"exec": {"pod": "web", "command": ["true"]}}, world).message == "Pod web is not running yet."
    assert run({"exec": {"pod": "gone", "command": ["true"]}}, world).message == "Pod gone does not exist yet."
    none_ready = run({"exec": {"selector": {"app": "web"}, "command": ["true"]}}, world)
    assert none_ready.message == "No ready Pod with labels app=web runs yet."
    assert world.commands == []


def test_an_exec_check_names_a_pod_or_a_selector_and_one_test_of_the_output() -> None:
    assert format.check_problems({"exec": {"command": ["true"]}}) == [
        "an exec check names exactly one of pod, selector"
    ]
    both = {"exec": {"pod": "a", "command": ["true"], "contains": "x", "matches": "x"}}
    assert format.check_problems(both) == ["an exec check takes contains or matches, not both"]
    assert format.check_problems({"exec": {"pod": "a", "command": ["sh"], "matches": "(a|aa)+$"}})
    assert format.check_problems({"exec": {"selector": {"app": "a"}, "command": ["printenv"]}}) == []
