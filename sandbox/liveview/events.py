"""Compact, high-level views of Kubernetes objects for the browser: only what the live picture
shows, so a pod with a 20 kB spec becomes a few hundred bytes on the WebSocket. Pure functions
over the API's JSON (dicts), tested without a cluster."""

from __future__ import annotations

from typing import Any

Raw = dict[str, Any]

KINDS = ("Pod", "Deployment", "ReplicaSet", "Service", "EndpointSlice", "ConfigMap", "Ingress", "Event")


def _owner(meta: Raw) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("controller"):
            return f"{ref['kind']}/{ref['name']}"
    return None


def _images(spec: Raw) -> list[str]:
    return [c.get("image", "") for c in spec.get("containers") or []]


# A container waiting for these is on its way; any other waiting reason is a problem to show.
STARTING = {"ContainerCreating", "PodInitializing"}


def _problem(statuses: list[Raw]) -> tuple[str, str] | None:
    """Why a container does not run, as kubectl's STATUS column says it (ErrImagePull,
    ImagePullBackOff, CrashLoopBackOff, OOMKilled...), with the runtime's message."""
    for container in statuses:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] not in STARTING:
            last = (container.get("lastState") or {}).get("terminated") or {}
            message = waiting.get("message") or last.get("message") or last.get("reason") or ""
            return waiting["reason"], message[:300]
        terminated = state.get("terminated") or {}
        if terminated.get("reason") not in (None, "Completed"):
            return terminated["reason"], (terminated.get("message") or "")[:300]
    return None


def _revision(meta: Raw) -> str | None:
    return (meta.get("annotations") or {}).get("deployment.kubernetes.io/revision")


def compact(kind: str, obj: Raw) -> Raw:
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    out: Raw = {
        "kind": kind,
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
        "labels": meta.get("labels") or {},
        "created": meta.get("creationTimestamp"),
        "deleting": bool(meta.get("deletionTimestamp")),
        "owner": _owner(meta),
    }
    if kind == "Pod":
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        statuses = status.get("containerStatuses") or []
        out |= {
            "phase": "Terminating" if out["deleting"] else status.get("phase", "Pending"),
            "ready": conditions.get("Ready") == "True",
            "restarts": sum(int(c.get("restartCount", 0)) for c in statuses),
            "images": _images(spec),
            "node": spec.get("nodeName"),
            "ip": status.get("podIP"),
            "problem": None,
            "problemMessage": "",
        }
        # An evicted Pod (over its ephemeral-storage limit, say) has no waiting container to
        # explain it: the Pod's own reason and message do.
        problem = (status.get("reason"), status.get("message", "")) if status.get("reason") else _problem(statuses)
        if problem and not out["deleting"]:
            out["problem"], out["problemMessage"] = problem
    elif kind in ("Deployment", "ReplicaSet"):
        template = (spec.get("template") or {}).get("spec") or {}
        out |= {
            "replicas": spec.get("replicas", 1),
            "readyReplicas": status.get("readyReplicas", 0),
            "availableReplicas": status.get("availableReplicas", 0),
            "updatedReplicas": status.get("updatedReplicas", 0),
            "images": _images(template),
            "revision": _revision(meta),
            "selector": (spec.get("selector") or {}).get("matchLabels") or {},
        }
    elif kind == "Service":
        out |= {
            "type": spec.get("type", "ClusterIP"),
            "clusterIP": spec.get("clusterIP"),
            "selector": spec.get("selector") or {},
            "ports": [
                {k: p.get(k) for k in ("port", "targetPort", "nodePort", "protocol") if p.get(k) is not None}
                for p in spec.get("ports") or []
            ],
        }
    elif kind == "EndpointSlice":
        out |= {
            "service": (meta.get("labels") or {}).get("kubernetes.io/service-name"),
            "ready": sorted(
                address
                for endpoint in obj.get("endpoints") or []
                if (endpoint.get("conditions") or {}).get("ready")
                for address in endpoint.get("addresses") or []
            ),
        }
    elif kind == "ConfigMap":
        out |= {"keys": sorted((obj.get("data") or {}).keys())}
    elif kind == "Ingress":
        out |= {
            "rules": [
                {
                    "host": rule.get("host", "*"),
                    "paths": [
                        {
                            "path": path.get("path", "/"),
                            "service": ((path.get("backend") or {}).get("service") or {}).get("name"),
                        }
                        for path in (rule.get("http") or {}).get("paths") or []
                    ],
                }
                for rule in spec.get("rules") or []
            ]
        }
    elif kind == "Event":
        involved = obj.get("involvedObject") or {}
        out |= {
            "reason": obj.get("reason"),
            "message": (obj.get("message") or "")[:300],
            "type": obj.get("type"),
            "object": f"{involved.get('kind')}/{involved.get('name')}",
            "count": obj.get("count", 1),
            "time": obj.get("lastTimestamp") or obj.get("eventTime") or meta.get("creationTimestamp"),
        }
        out.pop("labels")
    return out
