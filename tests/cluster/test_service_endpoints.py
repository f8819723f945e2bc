"""A Service gets a ClusterIP, and its EndpointSlice lists the IPs of the ready pods it selects."""

from __future__ import annotations

import time

from tests.cluster.conftest import Kubectl, kubectl_json
from tests.cluster.test_deployment_rollout import DEPLOYMENT, ready_pods, rollout

SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: petclinic
spec:
  selector: {app: petclinic}
  ports: [{port: 80, targetPort: 8080}]
"""


def test_it_lists_ready_pod_ips_in_the_endpointslice(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=DEPLOYMENT + "---" + SERVICE)
    rollout(kubectl, namespace)

    service = kubectl_json(kubectl, "get", "service/petclinic", "-n", namespace)
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["clusterIP"] not in ("", "None")

    pod_ips = {pod["status"]["podIP"] for pod in ready_pods(kubectl, namespace)}
    assert len(pod_ips) == 3
    # The EndpointSlice controller works asynchronously after the pods turn Ready.
    deadline = time.monotonic() + 30
    while True:
        slices = kubectl_json(
            kubectl, "get", "endpointslices", "-n", namespace, "-l", "kubernetes.io/service-name=petclinic"
        )["items"]
        ready_ips = {
            address
            for s in slices
            for endpoint in s.get("endpoints") or []
            if endpoint.get("conditions", {}).get("ready")
            for address in endpoint["addresses"]
        }
        if ready_ips == pod_ips or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert ready_ips == pod_ips
