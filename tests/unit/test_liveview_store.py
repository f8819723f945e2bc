"""The watcher's cache of one kind (by namespace, then name) and the checks on the requests it
answers: pure code, no cluster."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from lessons import checks
from sandbox.liveview import answers
from sandbox.liveview.store import Store


def obj(namespace: str, name: str, version: str, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "resourceVersion": version, **extra}}


def test_it_keeps_objects_by_namespace_without_their_managed_fields() -> None:
    store = Store()
    store.put(obj("a", "web", "1", managedFields=[{"manager": "kubectl"}], labels={"app": "web"}))
    store.put(obj("b", "web", "2"))
    store.put(obj("a", "web", "3", labels={"app": "web"}))
    assert store.in_namespace("a") == [obj("a", "web", "3", labels={"app": "web"})]
    assert [o["metadata"]["resourceVersion"] for o in store.in_namespace("b")] == ["2"]
    store.remove(obj("b", "web", "4"))
    assert store.in_namespace("b") == []
    assert store.in_namespace("nowhere") == []
    assert len(store) == 1


def test_a_relist_reports_what_changed_while_nobody_watched() -> None:
    store = Store()
    store.replace([obj("a", "kept", "1"), obj("a", "changed", "1"), obj("b", "gone", "1")])
    changes = store.replace([obj("a", "kept", "1"), obj("a", "changed", "2"), obj("a", "new", "3")])
    assert sorted((op, o["metadata"]["name"]) for op, o in changes) == [
        ("ADDED", "new"),
        ("DELETED", "gone"),
        ("MODIFIED", "changed"),
    ]
    assert {o["metadata"]["name"] for o in store.in_namespace("a")} == {"kept", "changed", "new"}
    assert store.in_namespace("b") == []


def request(**changes: Any) -> dict[str, Any]:
    base = {
        "type": "liveview.request",
        "what": "world",
        "namespaces": [settings.SANDBOX_NAMESPACE_PREFIX + "0123abcd"],
        "kinds": ["Pod", "Event"],
        "reply": "specific.0123456789abcdef!xyz",
        "deadline": 1.5,
    }
    return base | changes


def test_only_well_formed_requests_for_this_installations_namespaces_are_answered() -> None:
    assert answers.valid(request())
    assert answers.valid(request(what="snapshot", kinds=[]))
    assert not answers.valid(request(what="secrets"))
    assert not answers.valid(request(namespaces=["kube-system"]))
    assert not answers.valid(request(namespaces=[]))
    assert not answers.valid(request(namespaces=[settings.SANDBOX_NAMESPACE_PREFIX + "x"] * 17))
    assert not answers.valid(request(kinds=["Secret"]))
    assert not answers.valid(request(reply="a.normal.channel"))
    assert not answers.valid(request(reply=None))
    assert not answers.valid(request(deadline="soon"))


def test_each_check_names_the_kinds_it_reads() -> None:
    assert checks.kinds_read({"exists": {"kind": "Service", "name": "web"}}) == {"Service"}
    assert checks.kinds_read({"count": {"kind": "Pod", "selector": {"app": "web"}, "equals": 2}}) == {"Pod"}
    assert checks.kinds_read({"selects": {"service": "web", "pods": {"app": "web"}}}) == {"Service", "Pod"}
    assert checks.kinds_read({"self_healed": {"deployment": "web"}}) == {"Deployment", "ReplicaSet", "Event", "Pod"}
    assert checks.kinds_read({"ran": {"matches": "kubectl get"}, "message": "x"}) == set()
    assert set(checks.READS) | {"exists", "absent", "field", "count", "condition"} == set(checks.CHECKS)
