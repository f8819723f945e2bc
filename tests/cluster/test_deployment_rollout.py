"""A Deployment behaves as on a real cluster: replicas become Ready, an image change rolls out
to a new ReplicaSet, and `rollout undo` goes back."""

from __future__ import annotations

from typing import Any

from tests.cluster.conftest import Kubectl, kubectl_json

IMAGE_V1 = "spring2go/spring-petclinic:1.0.0.RELEASE"
IMAGE_V2 = "spring2go/spring-petclinic:1.0.1.RELEASE"

DEPLOYMENT = f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: petclinic
spec:
  replicas: 3
  selector:
    matchLabels: {{app: petclinic}}
  template:
    metadata:
      labels: {{app: petclinic}}
    spec:
      containers:
        - name: petclinic
          image: {IMAGE_V1}
          ports: [{{containerPort: 8080}}]
"""


def ready_pods(kubectl: Kubectl, namespace: str) -> list[dict[str, Any]]:
    pods = kubectl_json(kubectl, "get", "pods", "-n", namespace, "-l", "app=petclinic")["items"]
    return [
        pod
        for pod in pods
        if pod["metadata"].get("deletionTimestamp") is None
        and any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))
    ]


def replica_sets(kubectl: Kubectl, namespace: str) -> dict[str, dict[str, Any]]:
    items = kubectl_json(kubectl, "get", "replicasets", "-n", namespace, "-l", "app=petclinic")["items"]
    return {rs["spec"]["template"]["spec"]["containers"][0]["image"]: rs for rs in items}


def rollout(kubectl: Kubectl, namespace: str) -> None:
    kubectl("rollout", "status", "deployment/petclinic", "-n", namespace, "--timeout=90s")


def test_it_runs_three_ready_pods(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    rollout(kubectl, namespace)

    pods = ready_pods(kubectl, namespace)
    assert len(pods) == 3
    assert all(pod["status"]["phase"] == "Running" and pod["status"].get("podIP") for pod in pods)
    assert len({pod["spec"]["nodeName"] for pod in pods}) >= 1  # the real scheduler bound them


def test_it_rolls_out_a_new_image_to_a_new_replicaset_and_undoes_it(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT)
    rollout(kubectl, namespace)

    kubectl("set", "image", "deployment/petclinic", f"petclinic={IMAGE_V2}", "-n", namespace)
    rollout(kubectl, namespace)
    sets = replica_sets(kubectl, namespace)
    assert set(sets) == {IMAGE_V1, IMAGE_V2}
    assert sets[IMAGE_V2]["status"]["readyReplicas"] == 3
    assert sets[IMAGE_V1]["spec"]["replicas"] == 0
    history = kubectl("rollout", "history", "deployment/petclinic", "-n", namespace).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]

    kubectl("rollout", "undo", "deployment/petclinic", "-n", namespace)
    rollout(kubectl, namespace)
    deployment = kubectl_json(kubectl, "get", "deployment/petclinic", "-n", namespace)
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE_V1
    # Undo re-uses the first ReplicaSet as revision 3 instead of making a third one.
    sets = replica_sets(kubectl, namespace)
    assert set(sets) == {IMAGE_V1, IMAGE_V2}
    assert sets[IMAGE_V1]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert {pod["spec"]["containers"][0]["image"] for pod in ready_pods(kubectl, namespace)} == {IMAGE_V1}
