"""Which pod and port `kubectl port-forward svc/NAME PORT` or `deploy/NAME PORT` reaches. Real
kubectl picks one running pod of the Service or Deployment when it starts, and maps a Service
port to the pod's target port; the platform does the same, reading with the checker's read-only
identity in the student's own namespace."""

from __future__ import annotations

from typing import Any

from sandbox import k8s
from sandbox.terminal.errors import Denied

Raw = dict[str, Any]


def _matches(labels: dict[str, str] | None, selector: dict[str, str]) -> bool:
    return bool(selector) and all((labels or {}).get(k) == v for k, v in selector.items())


def pick_pod(pods: list[Raw], selector: dict[str, str]) -> Raw | None:
    """A running pod carrying the selector's labels, ready ones first, oldest first."""
    candidates = [
        p
        for p in pods
        if _matches(p["metadata"].get("labels"), selector)
        and not p["metadata"].get("deletionTimestamp")
        and (p.get("status") or {}).get("phase") == "Running"
    ]

    def ready(pod: Raw) -> bool:
        conditions = (pod.get("status") or {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    candidates.sort(key=lambda p: (not ready(p), p["metadata"].get("creationTimestamp") or ""))
    return candidates[0] if candidates else None


def service_target_port(service: Raw, port: int, pod: Raw) -> int:
    """The pod port behind a Service port (a number, or a container port's name)."""
    for entry in (service.get("spec") or {}).get("ports") or []:
        if entry.get("port") != port:
            continue
        target = entry.get("targetPort", port)
        if isinstance(target, int):
            return target
        if isinstance(target, str) and target.isdigit():
            return int(target)
        for container in (pod.get("spec") or {}).get("containers") or []:
            for container_port in container.get("ports") or []:
                if container_port.get("name") == target:
                    return int(container_port["containerPort"])
        raise Denied(f"the pod has no container port named {target!r}")
    raise Denied(f"the Service has no port {port}; `kubectl get svc` lists its ports")


def _one(kind: str, name: str, namespace: str) -> Raw | None:
    items, _ = k8s.list_raw(kind, field_selector=f"metadata.namespace={namespace},metadata.name={name}")
    return items[0] if items else None


def container_port(pod: Raw, name: str) -> int:
    """The number of the pod's container port called `name`."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for entry in container.get("ports") or []:
            if entry.get("name") == name:
                return int(entry["containerPort"])
    raise Denied(f"pod {pod['metadata']['name']} has no container port named {name!r}")


def service_port(service: Raw, name: str) -> int:
    """The number of the Service's port called `name` (`port-forward svc/NAME 5000:http`)."""
    for entry in (service.get("spec") or {}).get("ports") or []:
        if entry.get("name") == name:
            return int(entry["port"])
    raise Denied(
        f"Service {service['metadata']['name']} has no port named {name!r}; `kubectl get svc -o yaml` shows them"
    )


def resolve(kind: str, name: str, port: int | str, namespace: str) -> tuple[str, int]:
    """(pod, port) for a pod, service or deployment target in `namespace`; `port` is a number or
    the name of a port (the Service's port for a Service, else the container's)."""
    with k8s.as_checker():
        if kind == "pod":
            if isinstance(port, int):
                return name, port
            pod = _one("Pod", name, namespace)
            if pod is None:
                raise Denied(f"there is no pod {name} in your namespace")
            return name, container_port(pod, port)
        owner = _one("Service" if kind == "service" else "Deployment", name, namespace)
        if owner is None:
            raise Denied(f"there is no {kind} {name} in your namespace")
        spec = owner.get("spec") or {}
        selector = (
            spec.get("selector") or {} if kind == "service" else (spec.get("selector") or {}).get("matchLabels") or {}
        )
        pods, _ = k8s.list_raw("Pod", field_selector=f"metadata.namespace={namespace}")
    pod = pick_pod(pods, selector)
    if pod is None:
        raise Denied(f"{kind} {name} has no running pod to forward to")
    if kind == "service":
        number = port if isinstance(port, int) else service_port(owner, port)
        return pod["metadata"]["name"], service_target_port(owner, number, pod)
    return pod["metadata"]["name"], port if isinstance(port, int) else container_port(pod, port)
