"""Whether the local cluster runs the real node: asked for (auto, require, off) and possible."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import real_node_mode
from sandbox.cluster import backend, node
from sandbox.cluster.local import LocalCluster


@pytest.mark.parametrize(
    ("raw", "cluster", "mode"),
    [
        ("auto", "local", "auto"),
        ("AUTO ", "local", "auto"),
        ("require", "local", "require"),
        ("1", "local", "require"),
        ("off", "local", "off"),
        ("0", "local", "off"),
        ("auto", "local-sim", "off"),
        ("auto", "kind", "off"),
    ],
)
def test_the_setting_reads_as_one_of_three_modes(raw: str, cluster: str, mode: str) -> None:
    assert real_node_mode(raw, cluster) == mode


@pytest.mark.parametrize(
    ("raw", "cluster", "message"),
    [
        ("maybe", "local", "LOCAL_REAL_NODE must be auto, require or off"),
        ("auto", "minikube", "CLUSTER must be one of local, local-sim, kind"),
        ("require", "local-sim", "LOCAL_REAL_NODE=require needs CLUSTER=local"),
    ],
)
def test_a_wrong_value_says_what_is_allowed(raw: str, cluster: str, message: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=message):
        real_node_mode(raw, cluster)


def test_local_sim_is_the_local_cluster_without_the_node(settings: object) -> None:
    cluster = backend("local-sim")
    assert isinstance(cluster, LocalCluster)
    assert cluster.mode == "off"
    assert cluster._decide_real_node() is False


def test_auto_falls_back_to_the_simulated_nodes_and_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The machine's features are the outside boundary here: a machine without root is told apart.
    monkeypatch.setattr(node, "machine_lacks", lambda: ["root (run as root)", "runc (Debian package runc)"])
    assert LocalCluster(real_node="auto")._decide_real_node() is False
    said = capsys.readouterr().out
    assert "simulated nodes only" in said
    assert "root (run as root); runc (Debian package runc)" in said
    assert "CLUSTER=local-sim" in said


def test_require_refuses_to_start_without_the_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(node, "machine_lacks", lambda: ["root (run as root)"])
    with pytest.raises(RuntimeError, match=r"real node is required .* lacks: root \(run as root\)"):
        LocalCluster(real_node="require")._decide_real_node()


def test_this_machine_can_run_the_node() -> None:
    # `make test` runs here as root with docker/system-deps.sh's packages: nothing may be missing,
    # or the suite would be proving the simulated cluster only.
    assert node.machine_lacks() == []
