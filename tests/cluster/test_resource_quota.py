"""ResourceQuota admission is on: a pod over the namespace's limit is rejected."""

from __future__ import annotations

from tests.cluster.conftest import Kubectl

QUOTA = """
apiVersion: v1
kind: ResourceQuota
metadata:
  name: two-pods
spec:
  hard: {pods: "2"}
"""


def pod(name: str) -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  containers: [{{name: app, image: mysql:5.7}}]
"""


def test_it_rejects_the_pod_over_the_quota(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=QUOTA)
    # The quota controller fills in status.hard before admission enforces it.
    kubectl("wait", "--for=jsonpath={.status.hard.pods}=2", "resourcequota/two-pods", "-n", namespace, "--timeout=30s")

    kubectl("apply", "-n", namespace, "-f", "-", input=pod("one"))
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("two"))
    third = kubectl("apply", "-n", namespace, "-f", "-", input=pod("three"), check=False)

    assert third.returncode != 0
    assert "exceeded quota: two-pods" in third.stderr
    names = kubectl("get", "pods", "-n", namespace, "-o", "name").stdout.split()
    assert names == ["pod/one", "pod/two"]
