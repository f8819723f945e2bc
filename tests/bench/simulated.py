"""Where the benchmarks' crowds of Pods go: kwok's fake nodes, never the real node.

With the real node the fake nodes carry a NoSchedule taint (sandbox/cluster/local.py), so
a Pod lands there only if it tolerates it; the node selector keeps the hundreds of simulated
Pods off the real node (whose images they would not find, and whose memory they would fill).
Without the real node the fake nodes are the only ones and the taint is absent: the same spec
changes nothing there."""

from __future__ import annotations

import json
from typing import Any

from sandbox.cluster.nodeconfig import KWOK_TAINT

_key_value, _, _effect = KWOK_TAINT.rpartition(":")
_key, _, _value = _key_value.partition("=")

# Merged into a Pod's spec.
ON_KWOK: dict[str, Any] = {
    "nodeSelector": {"type": "kwok"},
    "tolerations": [{"key": _key, "operator": "Equal", "value": _value, "effect": _effect}],
}


def kubectl_run_overrides() -> str:
    """The `--overrides` of `kubectl run` that puts its Pod on a fake node."""
    return json.dumps({"apiVersion": "v1", "spec": ON_KWOK})
