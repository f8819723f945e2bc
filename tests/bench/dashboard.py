"""Admin dashboard benchmark: what reading the cluster for /platform/ costs as the cluster
fills. Prints figures, asserts nothing; needs the cluster (its kwok nodes hold the Pods).

    python tests/bench/dashboard.py [--pods 300] [--rounds 20]

Starts --pods Pods on the simulated nodes (a Deployment in a namespace of this installation's
prefix, which it removes at the end), then times inventory.read_cluster() (four cluster-wide
lists through the checker identity) and the pure work of turning them into rows.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

from dashboard import inventory  # noqa: E402
from sandbox.cluster.tools import kubectl  # noqa: E402

FILLER = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: filler}}
spec:
  replicas: {pods}
  selector: {{matchLabels: {{app: filler}}}}
  template:
    metadata: {{labels: {{app: filler}}}}
    spec:
      nodeSelector: {{type: kwok}}
      tolerations: [{{key: kwok.x-k8s.io/node, operator: Exists, effect: NoSchedule}}]
      containers: [{{name: c, image: fake, resources: {{requests: {{cpu: 100m, memory: 128Mi}}}}}}]
"""


def run(*args: str, text: str | None = None) -> str:
    command = [str(kubectl()), "--kubeconfig", str(settings.CLUSTER_ADMIN_KUBECONFIG), *args]
    return subprocess.run(command, input=text, capture_output=True, text=True, check=True).stdout


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=300, help="at most 110 per kwok node")
    parser.add_argument("--rounds", type=int, default=20)
    options = parser.parse_args()
    namespace = f"{settings.SANDBOX_NAMESPACE_PREFIX}bench-dashboard"
    run("create", "namespace", namespace)
    try:
        run("apply", "-n", namespace, "-f", "-", text=FILLER.format(pods=options.pods))
        deadline = time.monotonic() + 180
        while run("get", "pods", "-n", namespace, "--no-headers").count("Running") < options.pods:
            if time.monotonic() > deadline:
                sys.exit("the filler Pods did not all run within 180 s")
            time.sleep(2)
        reads, builds = [], []
        for _ in range(options.rounds):
            started = time.perf_counter()
            cluster = inventory.read_cluster()
            reads.append(time.perf_counter() - started)
            started = time.perf_counter()
            inventory.node_rows(cluster["Node"], cluster["Pod"])
            inventory.orphans(cluster["Namespace"], set(), settings.SANDBOX_NAMESPACE_PREFIX)
            builds.append(time.perf_counter() - started)
        print({kind: len(items) for kind, items in cluster.items()})
        print(f"read_cluster: p50 {percentile(reads, 0.5) * 1000:.1f} ms, p95 {percentile(reads, 0.95) * 1000:.1f} ms")
        print(f"rows from it: p50 {percentile(builds, 0.5) * 1000:.2f} ms")
    finally:
        run("delete", "namespace", namespace, "--wait=false")


if __name__ == "__main__":
    main()
