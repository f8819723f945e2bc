"""port-forward to a Service or Deployment: which pod and port (pure parts), and the policy."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.terminal import kubectl_policy
from sandbox.terminal.errors import Denied
from sandbox.terminal.forward_target import pick_pod, service_target_port


def pod(
    name: str, labels: dict[str, str], *, phase: str = "Running", ready: bool = True, created: str = "1"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels, "creationTimestamp": created},
        "spec": {"containers": [{"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def test_pick_pod_prefers_ready_then_oldest_and_never_an_unrelated_or_dead_pod() -> None:
    pods = [
        pod("other", {"app": "db"}),
        pod("pending", {"app": "web"}, phase="Pending"),
        pod("young", {"app": "web"}, created="3"),
        pod("old", {"app": "web"}, created="2"),
        pod("unready", {"app": "web"}, ready=False, created="1"),
    ]
    assert pick_pod(pods, {"app": "web"})["metadata"]["name"] == "old"  # type: ignore[index]
    assert pick_pod(pods, {"app": "none"}) is None
    assert pick_pod(pods, {}) is None  # a Service without a selector selects nothing


def test_service_ports_map_to_target_ports_by_number_or_name() -> None:
    target = pod("p", {})
    service = {"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 81, "targetPort": "http"}, {"port": 82}]}}
    assert service_target_port(service, 80, target) == 8080
    assert service_target_port(service, 81, target) == 8080
    assert service_target_port(service, 82, target) == 82
    with pytest.raises(Denied, match="no port 90"):
        service_target_port(service, 90, target)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["petclinic", "8080:8080"], ("pod", "petclinic", 8080)),
        (["svc/petclinic", "8080:80"], ("service", "petclinic", 80)),
        (["deploy/petclinic", "8080"], ("deployment", "petclinic", 8080)),
    ],
)
def test_the_policy_reads_the_target(args: list[str], expected: tuple[str, str, int]) -> None:
    assert kubectl_policy.check(["port-forward", *args], set()).forward == expected


@pytest.mark.parametrize("target", ["node/kwok-node-1", "svc/a,metadata.namespace=other", "svc/", "svc/A"])
def test_the_policy_refuses_other_targets(target: str) -> None:
    with pytest.raises(Denied):
        kubectl_policy.check(["port-forward", target, "8080"], set())
