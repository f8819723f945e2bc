"""The real node's configuration files, built by pure functions from its paths and addresses.

Every path the node's programs would otherwise put on the host (containerd's root, state, socket
and runc root, network namespaces, the kubelet's root, Pod logs, volume plugins, the CNI IPAM
store) points under the node's own folder, so that `cluster down` can remove all of it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

NODE_NAME = "sandbox-node"
# The Service range as on kind. Without the real node the API server keeps its default,
# 10.0.0.0/24, which kwok's fake Pod addresses (10.0.0.1/24) overlap: harmless while nothing
# routes, not once kube-proxy does.
SERVICE_RANGE = "10.96.0.0/16"
# Addresses chosen away from the Service range, kwok's fake Pod range, the machine's own
# networks and kind's Pod range: the node's address is a /32 alias on lo, and its Pods get
# addresses from a /24 behind a bridge of their own.
NODE_IP = "10.250.0.1"
POD_SUBNET = "10.250.1.0/24"
POD_GATEWAY = "10.250.1.1"
BRIDGE = "sbxnode0"
CNI_NETWORK = "sandbox-pods"
# Where CoreDNS answers (the kube-dns Service, as on kind); Pods' resolv.conf names it.
CLUSTER_DNS = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
# The `kubernetes` Service's address: the first of the Service range.
KUBERNETES_SERVICE_IP = "10.96.0.1"
# With the real node the API server listens on the node's address (Pods reach it there through
# the `kubernetes` Service), on a fixed port so that the redirect below can be set up before
# the API server exists. Only one real node runs per machine anyway (fixed addresses).
APISERVER_PORT = 6443
# kwokctl writes 127.0.0.1 into every kubeconfig it makes (its own components' too): a nat
# OUTPUT rule in this chain sends local connections to 127.0.0.1:APISERVER_PORT to the node's
# address. The prefix is one hoststate.py removes at `cluster down`.
APISERVER_CHAIN = "SBX-APISERVER"
CGROUP_ROOT = "k8s-sandbox"
# The kubelet's taint-free fake nodes get this taint when the real node runs, so that only Pods
# that tolerate it (the benchmarks' simulated crowds) land on kwok.
KWOK_TAINT = "kwok.x-k8s.io/node=fake:NoSchedule"
# kubelet 1.34 defaults; here both are local images built by sandbox/cluster/images.py.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


@dataclass(frozen=True)
class NodePaths:
    root: Path  # .cluster/node

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def containerd(self) -> Path:
        return self.root / "containerd"

    @property
    def containerd_config(self) -> Path:
        return self.containerd / "config.toml"

    @property
    def socket(self) -> Path:
        return self.containerd / "containerd.sock"

    @property
    def cni_conf(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def kubelet(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_root(self) -> Path:
        return self.kubelet / "root"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def kube_proxy(self) -> Path:
        return self.root / "kube-proxy"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def run(self) -> Path:
        return self.root / "run"


def containerd_config(paths: NodePaths) -> str:
    c = paths.containerd
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""\
# Written by sandbox/cluster/nodeconfig.py: a containerd of the local real node only, with its
# own root, state, socket and runc root, never the machine's default ones.
version = 2
root = "{c / "root"}"
state = "{c / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{paths.socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{c / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # containerd asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE (absent on our VMs):
  # every Pod sandbox failed in runc without this.
  restrict_oom_score_adj = true
  # Network namespaces under our state folder instead of /var/run/netns.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  enable_selinux = false

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "runc"
  Root = "{c / "runc"}"
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{paths.cni_conf}"
  max_conf_num = 1

[{cri}.registry]
  config_path = ""
"""


def cni_conflist(paths: NodePaths) -> dict[str, object]:
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": True,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET, "gateway": POD_GATEWAY}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    # Not /var/lib/cni/networks.
                    "dataDir": str(paths.cni_ipam),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(paths: NodePaths, ca_file: Path) -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        # Only callers with a certificate of the cluster CA or a token the API server accepts,
        # each authorised by the API server: a plain request to :10250 is Unauthorized.
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca_file)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(paths.pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(paths.pki / "kubelet-serving.key"),
        "containerRuntimeEndpoint": f"unix://{paths.socket}",
        # This machine: cgroup v1 without systemd as init.
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "seccompDefault": True,
        # Local images exist nowhere else: never collect them.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "imagefs.available": "2%"},
        "podLogsDir": str(paths.pod_logs),
        # A student who fills their logs cannot fill the disk.
        "containerLogMaxSize": "5Mi",
        "containerLogMaxFiles": 2,
        # Log rotation runs on this beat (default 10 s, in which a flooding Pod writes ~1 GB
        # here). The eviction manager's ephemeral-storage check keeps its own fixed 10 s: the
        # two together bound a flooding Pod's log (tests/cluster/test_log_flood.py).
        "containerLogMonitorInterval": "3s",
        "volumePluginDir": str(paths.kubelet / "volume-plugins"),
        "clusterDNS": [CLUSTER_DNS],
        "clusterDomain": CLUSTER_DOMAIN,
        "serializeImagePulls": False,
        "maxPods": 110,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
    }


def kube_proxy_config(paths: NodePaths) -> dict[str, object]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(paths.kube_proxy / "kubeconfig")},
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "mode": "iptables",
        "clusterCIDR": POD_SUBNET,
        # NodePorts on the node's address only, not on every address of the machine.
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "iptables": {"localhostNodePorts": False},
        # 0 leaves the machine's conntrack settings alone.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def kubeconfig(server: str, ca_file: Path, cert: Path, key: Path, user: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_file)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }


def as_text(data: dict[str, object]) -> str:
    # JSON is YAML, and needs no YAML library.
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def apiserver_options() -> str:
    """kwokctl options for the real node, rendered into docker/localcluster/kwokctl.yaml only
    when it runs: a fixed API server port, and a serving certificate valid for the addresses Pods
    use (kwokctl's one certificate already names kubernetes.default.svc and the like)."""
    return f"""\
  # The real node (sandbox/cluster/node.py).
  kubeApiserverPort: {APISERVER_PORT}
  kubeApiserverCertSANs: ["{KUBERNETES_SERVICE_IP}", "{NODE_IP}"]
"""


def apiserver_patches(pki: Path) -> str:
    """kwokctl componentsPatches that let the API server reach a real kubelet and keep kwok off
    the real node; rendered into docker/localcluster/kwokctl.yaml only when the node runs."""
    return f"""\
  # The real node (sandbox/cluster/node.py).
  - name: kube-apiserver
    extraArgs:
      - key: enable-admission-plugins
        value: NodeRestriction
      - key: service-cluster-ip-range
        value: "{SERVICE_RANGE}"
      # Pods reach the API server through the `kubernetes` Service, whose endpoint is the
      # advertised address: the node's, an alias on lo, not every interface of the machine.
      - key: bind-address
        value: "{NODE_IP}"
        override: true
      - key: advertise-address
        value: "{NODE_IP}"
      # The kubelet authenticates the API server by this certificate (logs, exec, port-forward).
      - key: kubelet-client-certificate
        value: "{pki / "admin.crt"}"
      - key: kubelet-client-key
        value: "{pki / "admin.key"}"
      - key: kubelet-certificate-authority
        value: "{pki / "ca.crt"}"
      # The node's name does not resolve; its InternalIP does (kwok's nodes have one too).
      - key: kubelet-preferred-address-types
        value: InternalIP,Hostname
  # kwok would take over the real node (its Lease, status and Pods): only the fake ones.
  - name: kwok-controller
    extraArgs:
      - key: manage-all-nodes
        value: "false"
        override: true
      - key: manage-nodes-with-annotation-selector
        value: kwok.x-k8s.io/node=fake
"""
