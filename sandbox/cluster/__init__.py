"""Bringing the development cluster up and down.

Two backends share one interface: ``local`` (the upstream control plane built from Go modules
and run by kwokctl, the default here and in CI) and ``kind`` (where Docker is available).
Either way the result is a cluster admin's kubeconfig at settings.CLUSTER_ADMIN_KUBECONFIG;
`manage.py sandbox install` then derives the operator's kubeconfig (CLUSTER_KUBECONFIG), which
is all the rest of the platform ever uses.
"""

from __future__ import annotations

import os
from typing import Protocol


class ClusterBackend(Protocol):
    def up(self) -> None: ...
    def down(self) -> None: ...
    def status(self) -> int: ...


def backend(name: str | None = None) -> ClusterBackend:
    name = name or os.environ.get("CLUSTER", "local") or "local"
    if name == "local":
        from sandbox.cluster.local import LocalCluster

        return LocalCluster()
    if name == "kind":
        from sandbox.cluster.kind import KindCluster

        return KindCluster()
    raise ValueError(f"CLUSTER must be 'local' or 'kind', not {name!r}")
