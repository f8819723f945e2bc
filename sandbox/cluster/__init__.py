"""Bringing the development cluster up and down.

Two backends share one interface: ``local`` (the upstream control plane built from Go modules
and run by kwokctl, with a real worker node wherever the machine can run one: the default here
and in CI; ``local-sim`` is the same with kwok's simulated nodes only) and ``kind`` (where
Docker is available).
Either way the result is a cluster admin's kubeconfig at settings.CLUSTER_ADMIN_KUBECONFIG;
`manage.py sandbox install` then derives the operator's kubeconfig (CLUSTER_KUBECONFIG), which
is all the rest of the platform ever uses.
"""

from __future__ import annotations

from typing import Protocol


class ClusterBackend(Protocol):
    def up(self) -> None: ...
    def down(self) -> None: ...
    def status(self) -> int: ...


def backend(name: str | None = None) -> ClusterBackend:
    from django.conf import settings

    name = name or settings.CLUSTER
    if name in ("local", "local-sim"):
        from sandbox.cluster.local import LocalCluster

        return LocalCluster(real_node="off" if name == "local-sim" else settings.LOCAL_REAL_NODE)
    if name == "kind":
        from sandbox.cluster.kind import KindCluster

        return KindCluster()
    raise ValueError(f"CLUSTER must be 'local', 'local-sim' or 'kind', not {name!r}")
