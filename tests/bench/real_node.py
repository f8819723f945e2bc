"""Real node benchmark: prints figures, asserts nothing.

    make cluster && make bench-real-node     (the cluster with its real node, the default)

Busybox Pods on the local real node, one after another (BENCH_PODS, default 10): the time from
just before the create call until the Pod is Running, and until it is Ready. Then the same
number at once. Also the resident memory of containerd, the kubelet and kube-proxy, and of the
containerd shims (one per Pod). Then cluster DNS: the mean time of one `nslookup` of a
Service's full name from a busybox Pod (BENCH_LOOKUPS runs, default 200, less the same number
of runs of a program that asks nothing), and CoreDNS's resident memory. Then the lessons'
own workloads: PetClinic Pods one after another (create -> Running and -> Ready), kube-router's
memory, the memory of one sandbox running lesson 08 (PetClinic and MySQL, from the lesson's own
manifests), and how many sandboxes running lesson 06 (three PetClinic replicas each) the node
holds: one more at a time until a Pod does not become Ready within BENCH_READY_SECONDS
(default 120) or BENCH_MAX_SANDBOXES (default 40) is reached.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from kubernetes import client, config, watch  # noqa: E402

from lessons import templating  # noqa: E402
from sandbox.cluster import hoststate  # noqa: E402
from sandbox.cluster.local import LocalCluster  # noqa: E402
from sandbox.cluster.nodeconfig import CGROUP_ROOT, NODE_NAME  # noqa: E402
from sandbox.cluster.tools import kubectl  # noqa: E402

PODS = int(os.environ.get("BENCH_PODS", "10"))
MAX_SANDBOXES = int(os.environ.get("BENCH_MAX_SANDBOXES", "40"))
READY_SECONDS = float(os.environ.get("BENCH_READY_SECONDS", "120"))
LESSONS = ROOT / "lessons" / "content"
PETCLINIC = "docker.io/spring2go/spring-petclinic:1.0.0.RELEASE"
LOOKUPS = int(os.environ.get("BENCH_LOOKUPS", "200"))
# busybox has no clock finer than /proc/uptime's hundredths: time a loop, not one lookup.
LOOKUP_LOOP = """
now() { tr -d . < /proc/uptime | cut -d' ' -f1; }
name=kubernetes.default.svc.cluster.local
i=0; t0=$(now); while [ $i -lt $N ]; do nslookup -type=a $name >/dev/null; i=$((i+1)); done
i=0; t1=$(now); while [ $i -lt $N ]; do /bin/true; i=$((i+1)); done; t2=$(now)
echo $((t1 - t0)) $((t2 - t1))
"""


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def busybox(name: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            termination_grace_period_seconds=1,
            containers=[
                client.V1Container(
                    name="main",
                    image="busybox:1.35",
                    command=["sleep", "600"],
                    resources=client.V1ResourceRequirements(limits={"memory": "16Mi", "cpu": "50m"}),
                )
            ],
        ),
    )


def wait_running(api: client.CoreV1Api, namespace: str, names: set[str], started: float) -> dict[str, float]:
    """Seconds from `started` until each Pod is Running."""
    running: dict[str, float] = {}
    stream = watch.Watch()
    for event in stream.stream(api.list_namespaced_pod, namespace, timeout_seconds=120):
        pod = event["object"]
        if pod.metadata.name in names and pod.status.phase == "Running" and pod.metadata.name not in running:
            running[pod.metadata.name] = time.monotonic() - started
            if len(running) == len(names):
                stream.stop()
    return running


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def cluster_dns(api: client.CoreV1Api, namespace: str) -> None:
    pod = busybox("dns")
    # One core at most, so the loop measures DNS rather than the CPU limit of the Pods above.
    pod.spec.containers[0].resources.limits["cpu"] = "1"
    pod.spec.containers[0].resources.requests = {"cpu": "50m"}  # schedulable beside the Pods above
    api.create_namespaced_pod(namespace, pod)
    wait_running(api, namespace, {"dns"}, time.monotonic())
    admin = str(settings.CLUSTER_ADMIN_KUBECONFIG)
    loop = subprocess.run(
        [kubectl(), "--kubeconfig", admin, "exec", "-i", "dns", "-n", namespace, "--", "env", f"N={LOOKUPS}", "sh"],
        input=LOOKUP_LOOP,
        capture_output=True,
        text=True,
    )
    if loop.returncode != 0:
        print(f"cluster DNS from a Pod: the lookup loop failed ({loop.returncode}): {loop.stderr.strip()[:300]}")
        return
    lookups, baseline = (int(word) * 10 for word in loop.stdout.split())  # hundredths -> ms
    print(f"cluster DNS from a Pod, nslookup of a Service's full name ({LOOKUPS} runs):")
    print(f"  {lookups / LOOKUPS:.1f} ms per run, {(lookups - baseline) / LOOKUPS:.1f} ms without the process start")
    coredns = [
        pid for pid in hoststate.cgroup_pids(CGROUP_ROOT) if Path(f"/proc/{pid}/comm").read_text().strip() == "coredns"
    ]
    print(f"  CoreDNS resident memory: {', '.join(f'{rss_mib(pid):.0f} MiB' for pid in coredns) or 'not running'}")


def kubectl_run(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(kubectl()), "--kubeconfig", str(settings.CLUSTER_ADMIN_KUBECONFIG), *args]
    return subprocess.run(command, input=input, capture_output=True, text=True)


def apply_lesson(lesson: str, files: list[str], namespace: str) -> None:
    context = {"namespace": namespace, "node_port": 0, "registry": ""}
    for name in files:
        manifest = templating.render((LESSONS / lesson / "manifests" / name).read_text(), context)
        applied = kubectl_run("apply", "-n", namespace, "-f", "-", input=manifest)
        if applied.returncode != 0:
            sys.exit(f"{lesson}/{name}: {applied.stderr.strip()}")


def pods_memory_mib(api: client.CoreV1Api, namespace: str) -> float:
    """What the namespace's Pods use (their cgroups' usage less the page cache they could drop)."""
    total = 0
    for pod in api.list_namespaced_pod(namespace).items:
        for folder in Path("/sys/fs/cgroup/memory", CGROUP_ROOT).rglob(f"pod{pod.metadata.uid}"):
            stat = dict(line.split() for line in (folder / "memory.stat").read_text().splitlines())
            total += int((folder / "memory.usage_in_bytes").read_text()) - int(stat.get("total_inactive_file", 0))
    return total / 2**20


def ready_within(namespace: str, seconds: float) -> str:
    """ "" when every Pod of the namespace is Ready in time, else what kubectl says."""
    waited = kubectl_run("wait", "--for=condition=Ready", "pods", "--all", "-n", namespace, f"--timeout={seconds:.0f}s")
    return "" if waited.returncode == 0 else (waited.stderr.strip() or waited.stdout.strip())


def lessons_workloads(api: client.CoreV1Api, namespace: str) -> None:
    starts, readies = [], []
    for index in range(PODS):
        name = f"petclinic-{index}"
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PodSpec(
                containers=[
                    client.V1Container(
                        name="petclinic",
                        image=PETCLINIC,
                        image_pull_policy="IfNotPresent",
                        readiness_probe=client.V1Probe(
                            http_get=client.V1HTTPGetAction(path="/", port=8080), period_seconds=1
                        ),
                    )
                ]
            ),
        )
        started = time.monotonic()
        api.create_namespaced_pod(namespace, pod)
        starts.append(wait_running(api, namespace, {name}, started)[name])
        kubectl_run("wait", "--for=condition=Ready", f"pod/{name}", "-n", namespace, "--timeout=60s")
        readies.append(time.monotonic() - started)
    print(f"PetClinic Pod create -> Running / -> Ready (page answers), one at a time ({PODS}):")
    print(f"  Running p50 {statistics.median(starts):.2f}s p95 {percentile(starts, 0.95):.2f}s")
    print(f"  Ready   p50 {statistics.median(readies):.2f}s p95 {percentile(readies, 0.95):.2f}s")
    routers = [
        int(pid)
        for pid in subprocess.run(
            ["pgrep", "-f", "/usr/local/bin/kube-router"], capture_output=True, text=True
        ).stdout.split()
    ]
    print(f"  kube-router resident memory: {', '.join(f'{rss_mib(pid):.0f} MiB' for pid in routers) or 'not running'}")

    lesson08 = f"{namespace}-l08"
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=lesson08)))
    try:
        while not api.list_namespaced_service_account(lesson08).items:
            time.sleep(0.2)
        apply_lesson(
            "08-clusterip-dns",
            ["mysql-pod.yaml", "mysql-service.yaml", "petclinic-mysql.yaml", "petclinic-clusterip.yaml"],
            lesson08,
        )
        problem = ready_within(lesson08, READY_SECONDS)
        time.sleep(5)  # past start-up peaks
        print(f"one sandbox running lesson 08 (PetClinic + MySQL): {pods_memory_mib(api, lesson08):.0f} MiB {problem}")
    finally:
        api.delete_namespace(lesson08)

    # The Pods above make room: the node's Pod count is one of the limits measured next.
    api.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
    while api.list_namespaced_pod(namespace).items:
        time.sleep(0.5)
    made: list[str] = []
    held, failure = 0, f"stopped at BENCH_MAX_SANDBOXES={MAX_SANDBOXES}"
    try:
        for index in range(MAX_SANDBOXES):
            name = f"{namespace}-l06-{index}"
            api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
            made.append(name)
            while not api.list_namespaced_service_account(name).items:
                time.sleep(0.2)
            apply_lesson("06-deployment-rolling-update", ["petclinic-deployment.yaml"], name)
            kubectl_run("rollout", "status", "deployment/petclinic", "-n", name, f"--timeout={READY_SECONDS:.0f}s")
            problem = ready_within(name, 1)
            if problem:
                failure = f"sandbox {index + 1}: {problem}"
                break
            held = index + 1
        memory = sum(pods_memory_mib(api, name) for name in made[:held])
        print(f"sandboxes running lesson 06 (3 PetClinic replicas each) the node held: {held} ({failure})")
        print(f"  their Pods' memory: {memory:.0f} MiB; load average {os.getloadavg()[0]:.1f}")
    finally:
        for name in made:
            api.delete_namespace(name)


def main() -> None:
    config.load_kube_config(str(settings.CLUSTER_ADMIN_KUBECONFIG))
    api = client.CoreV1Api()
    if not api.list_node(field_selector=f"metadata.name={NODE_NAME}").items:
        sys.exit(f"the cluster has no real node ({NODE_NAME}): `make cluster` starts it where the machine allows")
    namespace = f"bench-node-{uuid.uuid4().hex[:6]}"
    api.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        while not api.list_namespaced_service_account(namespace).items:
            time.sleep(0.2)
        one_by_one = []
        for index in range(PODS):
            name = f"one-{index}"
            started = time.monotonic()
            api.create_namespaced_pod(namespace, busybox(name))
            one_by_one.append(wait_running(api, namespace, {name}, started)[name])
        print(f"busybox Pod create -> Running, one at a time ({PODS}):")
        print(f"  p50 {statistics.median(one_by_one):.2f}s  p95 {percentile(one_by_one, 0.95):.2f}s")

        names = {f"many-{index}" for index in range(PODS)}
        started = time.monotonic()
        for name in sorted(names):
            api.create_namespaced_pod(namespace, busybox(name))
        together = list(wait_running(api, namespace, names, started).values())
        print(f"{PODS} busybox Pods created at once -> all Running: {max(together):.2f}s")
        print(f"  p50 {statistics.median(together):.2f}s  p95 {percentile(together, 0.95):.2f}s")

        node = LocalCluster().node()
        print(f"resident memory with {2 * PODS} Pods on {NODE_NAME}:")
        for program, pid in node.pids().items():
            print(f"  {program}: {rss_mib(pid):.0f} MiB" if pid else f"  {program}: not running")
        shims = hoststate.pids_with_argument(str(node.paths.socket))
        print(f"  containerd shims: {len(shims)}, {sum(rss_mib(pid) for pid in shims):.0f} MiB in all")
        cluster_dns(api, namespace)
        lessons_workloads(api, namespace)
    finally:
        api.delete_namespace(namespace)


if __name__ == "__main__":
    main()
