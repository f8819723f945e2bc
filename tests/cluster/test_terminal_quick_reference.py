"""Quick Reference lines for work inside one namespace, typed in the real terminal against the
real API server: events by type, templates from workspace files, a dump to the terminal, grep
with context, port-forward to a named port, and Jobs, CronJobs and autoscalers in the
student's own namespace (granted by RBAC, bounded by the quota, refused elsewhere)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.models import Sandbox
from sandbox.terminal import workspace
from tests.cluster.conftest import Kubectl
from tests.cluster.test_terminal_runtime import run_lines

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: spring2go/spring-petclinic:1.0.0.RELEASE
          ports: [{name: http-alt, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http-alt}]
"""


def test_reading_lines_from_the_quick_reference(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    workspace.save(sandbox, "cols.txt", "NAME          KIND\nmetadata.name kind\n")
    workspace.save(sandbox, "name.jsonpath", "{.metadata.name}")
    workspace.save(sandbox, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: quick}\ndata: {a: b}\n")
    results = run_lines(
        sandbox,
        "kubectl apply -f cm.yaml",
        "kubectl get configmap quick -o custom-columns-file=cols.txt",
        "kubectl get configmap quick -o jsonpath-file=name.jsonpath",
        "kubectl events --types=Warning",
        "kubectl cluster-info dump --namespaces " + sandbox.namespace + " | grep -c List",
        "kubectl get configmap quick -o yaml | grep -A 1 '^data:'",
    )
    statuses = [status for status, _ in results]
    assert statuses[:4] == [0, 0, 0, 0], results
    assert "quick" in results[1][1]
    assert "ConfigMap" in results[1][1]
    assert results[2][1].strip() == "quick"
    assert results[4][0] == 0, results[4]
    assert int(results[4][1].split()[0]) >= 1
    assert results[5][1].split() == ["data:", "a:", "b"]


def test_port_forward_to_a_named_port(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    workspace.save(sandbox, "web.yaml", DEPLOYMENT)
    results = run_lines(
        sandbox,
        "kubectl apply -f web.yaml",
        "kubectl wait --for=condition=Available deployment/web --timeout=60s",
        "kubectl port-forward svc/web 5000:http",
        "kubectl port-forward deploy/web 5000:http-alt",
        "kubectl port-forward svc/web 5000:nope",
    )
    assert [status for status, _ in results][:4] == [0, 0, 0, 0], results
    # The Service's port "http" is port 80, whose target is the container port "http-alt": 8080.
    assert "Forwarding to port 8080 of pod web-" in results[2][1]
    assert "Forwarding to port 8080 of pod web-" in results[3][1]
    assert results[4][0] == 1
    assert "no port named 'nope'" in results[4][1]


def test_jobs_cronjobs_and_autoscalers_in_the_own_namespace_only(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    sandbox, _ = make_sandbox()
    other, _ = make_sandbox()
    results = run_lines(
        sandbox,
        "kubectl create job once --image=busybox -- echo hi",
        "kubectl create cronjob nightly --image=busybox --schedule='0 3 * * *' -- echo hi",
        "kubectl create deployment web --image=nginx",
        "kubectl autoscale deployment web --min=1 --max=3 --cpu-percent=80",
        "kubectl get jobs,cronjobs,hpa -o name",
        f"kubectl create job elsewhere --image=busybox -n {other.namespace} -- echo hi",
    )
    assert [status for status, _ in results][:5] == [0, 0, 0, 0, 0], results
    assert set(results[4][1].split()) >= {
        "job.batch/once",
        "cronjob.batch/nightly",
        "horizontalpodautoscaler.autoscaling/web",
    }
    assert results[5][0] != 0
    assert "forbidden" in results[5][1].lower()
    quota = kubectl("get", "resourcequota", "-n", sandbox.namespace, "-o", "jsonpath={.items[0].status.hard}").stdout
    assert "count/jobs.batch" in quota
    assert "count/cronjobs.batch" in quota


def test_kubectl_diff_shows_what_applying_a_file_would_change(make_sandbox: MakeSandbox) -> None:
    # kubectl runs the diff program the terminal names (PATH finds nothing else); status 1
    # means "there are differences", as on a workstation.
    sandbox, _ = make_sandbox()
    workspace.save(sandbox, "cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: {a: b}\n")
    workspace.save(sandbox, "cm2.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d}\ndata: {a: c}\n")
    results = run_lines(
        sandbox,
        "kubectl apply -f cm.yaml",
        "kubectl diff -f cm.yaml",
        "kubectl diff -f cm2.yaml",
    )
    assert [status for status, _ in results] == [0, 0, 1], results
    assert "-  a: b" in results[2][1]
    assert "+  a: c" in results[2][1]
