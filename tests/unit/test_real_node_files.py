"""The real node's configuration and its locally written images, as data (no cluster, no root)."""

from __future__ import annotations

import ipaddress
import json
import tarfile
from pathlib import Path

import pytest

from sandbox.cluster import images, nodeconfig
from sandbox.cluster.nodeconfig import NodePaths

PATHS = NodePaths(Path("/work/x/.cluster/node"))


def test_it_keeps_service_node_and_pod_addresses_apart() -> None:
    services = ipaddress.ip_network(nodeconfig.SERVICE_RANGE)
    kwok_fake_pods = ipaddress.ip_network("10.0.0.0/24")
    pods = ipaddress.ip_network(nodeconfig.POD_SUBNET)
    assert not services.overlaps(kwok_fake_pods)
    assert not pods.overlaps(kwok_fake_pods)
    assert ipaddress.ip_address(nodeconfig.NODE_IP) not in services
    assert not pods.overlaps(services)
    assert ipaddress.ip_address(nodeconfig.NODE_IP) not in pods
    assert ipaddress.ip_address(nodeconfig.CLUSTER_DNS) in services


def test_it_points_every_containerd_path_under_the_node_folder() -> None:
    text = nodeconfig.containerd_config(PATHS)
    paths = [
        line.split("=", 1)[1].strip().strip('"')
        for line in text.splitlines()
        if line.strip().startswith(("root =", "state =", "address =", "path =", "Root =", "conf_dir ="))
    ]
    assert len(paths) == 6
    assert all(path.startswith("/work/x/.cluster/node/") for path in paths)
    assert "restrict_oom_score_adj = true" in text
    assert "netns_mounts_under_state_dir = true" in text


def test_it_locks_the_kubelet_to_authenticated_and_authorised_callers() -> None:
    config = nodeconfig.kubelet_config(PATHS, Path("/ca.crt"))
    assert config["authentication"] == {
        "anonymous": {"enabled": False},
        "webhook": {"enabled": True},
        "x509": {"clientCAFile": "/ca.crt"},
    }
    assert config["authorization"] == {"mode": "Webhook"}
    assert config["readOnlyPort"] == 0
    assert config["seccompDefault"] is True
    assert config["address"] == nodeconfig.NODE_IP
    assert str(config["podLogsDir"]).startswith("/work/x/.cluster/node/")


def test_it_opens_node_ports_on_the_node_address_only_and_leaves_conntrack_alone() -> None:
    config = nodeconfig.kube_proxy_config(PATHS)
    assert config["nodePortAddresses"] == [f"{nodeconfig.NODE_IP}/32"]
    assert config["conntrack"]["maxPerCore"] == 0  # type: ignore[index]  # the builders return plain JSON objects
    assert config["mode"] == "iptables"


def test_it_keeps_the_ipam_store_under_the_node_folder() -> None:
    bridge = nodeconfig.cni_conflist(PATHS)["plugins"][0]  # type: ignore[index]  # the builders return plain JSON objects
    assert bridge["ipam"]["dataDir"] == "/work/x/.cluster/node/cni/ipam"
    assert bridge["ipam"]["ranges"] == [[{"subnet": nodeconfig.POD_SUBNET, "gateway": nodeconfig.POD_GATEWAY}]]


def test_it_reads_the_dockerfile_subset_of_a_scratch_image() -> None:
    spec = images.parse_dockerfile(
        'FROM scratch\n# c\nCOPY rootfs/ /\nENV PATH=/bin\nUSER 65535:65535\nENTRYPOINT ["/pause"]\nCMD ["sh"]\n'
    )
    assert spec.copies == (("rootfs/", "/"),)
    assert spec.env == ("PATH=/bin",)
    assert spec.user == "65535:65535"
    assert spec.entrypoint == ("/pause",)
    assert spec.cmd == ("sh",)


@pytest.mark.parametrize(
    "dockerfile",
    ["FROM debian:12\n", "FROM scratch\nRUN echo hi\n", "FROM scratch\nCOPY --from=x a b\n", "COPY a b\n"],
)
def test_it_refuses_what_it_cannot_build(dockerfile: str) -> None:
    with pytest.raises(images.ImageBuildError):
        images.parse_dockerfile(dockerfile)


def test_it_writes_the_same_archive_twice_from_the_same_files(tmp_path: Path) -> None:
    context = tmp_path / "context"
    (context / "rootfs" / "bin").mkdir(parents=True)
    (context / "rootfs" / "bin" / "tool").write_text("#!/bin/sh\n")
    (context / "rootfs" / "bin" / "alias").symlink_to("tool")
    dockerfile = 'FROM scratch\nCOPY rootfs/ /\nCMD ["/bin/tool"]\n'

    images.write_oci_archive(context, dockerfile, "example.org/tool:1", tmp_path / "a.tar")
    images.write_oci_archive(context, dockerfile, "example.org/tool:1", tmp_path / "b.tar")

    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as archive:
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]  # members that exist
        manifest_digest = index["manifests"][0]["digest"].partition(":")[2]
        manifest = json.load(archive.extractfile(f"blobs/sha256/{manifest_digest}"))  # type: ignore[arg-type]  # members that exist
        layer = archive.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'].partition(':')[2]}")
        with tarfile.open(fileobj=layer) as files:
            entries = {member.name: member for member in files.getmembers()}
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == "example.org/tool:1"
    assert entries["bin/alias"].issym()
    assert entries["bin/alias"].linkname == "tool"
    assert entries["bin/tool"].mtime == 0


def test_it_renders_the_simulated_clusters_configuration_unchanged_when_the_node_is_off() -> None:
    from sandbox.cluster.local import LocalCluster
    from sandbox.cluster.tools import LOCALCLUSTER_DIR

    cluster = LocalCluster()
    cluster.real_node = False
    source = (LOCALCLUSTER_DIR / "kwokctl.yaml").read_text()
    without_marker = "".join(line for line in source.splitlines(keepends=True) if "@REAL_NODE_" not in line)
    assert cluster._render_config() == without_marker.replace("@LOCALCLUSTER_DIR@", str(LOCALCLUSTER_DIR.resolve()))

    cluster.real_node = True
    rendered = cluster._render_config()
    assert "@REAL_NODE_" not in rendered
    assert "manage-nodes-with-annotation-selector" in rendered
    assert "value: NodeRestriction" in rendered
    # The API server on the node's address only (never every interface), advertised there, with
    # a certificate for the `kubernetes` Service's address.
    assert f'- key: bind-address\n        value: "{nodeconfig.NODE_IP}"\n        override: true' in rendered
    assert f'- key: advertise-address\n        value: "{nodeconfig.NODE_IP}"' in rendered
    assert "\n  bindAddress: 127.0.0.1\n" in rendered  # etcd and the rest stay on loopback
    assert f'kubeApiserverCertSANs: ["{nodeconfig.KUBERNETES_SERVICE_IP}", "{nodeconfig.NODE_IP}"]' in rendered
    assert f"kubeApiserverPort: {nodeconfig.APISERVER_PORT}" in rendered


def test_it_puts_the_kubernetes_and_dns_services_in_the_service_range() -> None:
    services = ipaddress.ip_network(nodeconfig.SERVICE_RANGE)
    assert ipaddress.ip_address(nodeconfig.KUBERNETES_SERVICE_IP) == services[1]
    assert ipaddress.ip_address(nodeconfig.CLUSTER_DNS) in services


def test_it_serves_cluster_dns_where_the_kubelet_sends_pods() -> None:
    from sandbox.cluster.tools import LOCALCLUSTER_DIR

    manifest = (LOCALCLUSTER_DIR / "coredns.yaml").read_text()
    assert f"clusterIP: {nodeconfig.CLUSTER_DNS}\n" in manifest
    assert f"kubernetes {nodeconfig.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa" in manifest
    assert 'image: "@COREDNS_IMAGE@"' in manifest
    kubelet = nodeconfig.kubelet_config(PATHS, Path("/ca.crt"))
    assert kubelet["clusterDNS"] == [nodeconfig.CLUSTER_DNS]
    assert kubelet["clusterDomain"] == nodeconfig.CLUSTER_DOMAIN
    spec = images.parse_dockerfile((images.IMAGES_DIR / "coredns" / "Dockerfile").read_text())
    assert spec.copies == (("coredns", "/coredns"),)
    assert spec.user == "65532:65532"
