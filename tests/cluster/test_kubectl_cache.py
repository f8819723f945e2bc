"""A terminal session's first kubectl with the warm cache `manage.py sandbox install` builds
(sandbox/terminal/kubectl_cache.py), and without it: with it, a student's first `kubectl apply`
neither discovers the API nor downloads the OpenAPI schema of the kind it applies, as their later
lines do not.

    pytest tests/cluster/test_kubectl_cache.py -s      (prints the requests and times)
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from sandbox.terminal import kubectl_cache, process
from sandbox.terminal.runner import Folder

pytestmark = pytest.mark.django_db(transaction=True)
# A request and, up to the next one, its response (kubectl -v=8 prints their headers): a response
# kubectl's HTTP cache answered carries X-From-Cache and never reached the API server.
REQUEST = re.compile(r'"Request" verb="(\w+)" url="https://[^/"]+/([^"?]*)(.*?)(?="Request" verb=|\Z)', re.S)
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: busybox:1.35}]}
"""
# What only a cold cache asks: discovery, and the schema `apply` reads for a Deployment.
DISCOVERY = {"GET api", "GET apis", "GET openapi/v3/apis/apps/v1"}


def sent(home: Path, kubeconfig: str, *args: str) -> tuple[list[str], float]:
    """The requests a kubectl run in this home sent the API server, and how long it took."""
    began = time.monotonic()
    done = subprocess.run(
        [str(settings.KUBECTL), "--kubeconfig", kubeconfig, *args, "-v=8"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        input=DEPLOYMENT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(home), "KUBECTL_KUBERC": "false"},
    )
    took = time.monotonic() - began
    return [f"{verb} {path}" for verb, path, rest in REQUEST.findall(done.stderr) if "X-From-Cache" not in rest], took


def test_a_sessions_first_kubectl_apply_neither_discovers_nor_downloads_schemas(
    make_sandbox: Callable[..., tuple[Any, str]], tmp_path: Path
) -> None:
    sandbox, kubeconfig = make_sandbox()
    cache = tmp_path / "kubectl-cache"
    assert kubectl_cache.build(settings.KUBECTL, settings.CLUSTER_KUBECONFIG, cache)

    me = process.Identity(os.geteuid(), os.getegid())  # kubectl runs as us here (the unit test: as the session)
    with override_settings(TERMINAL_KUBECTL_CACHE=tmp_path / "none"):
        cold = Folder.create(me)
    with override_settings(TERMINAL_KUBECTL_CACHE=cache):
        warm = Folder.create(me)
    lines = [("get", "pods"), ("apply", "-f", "-", "--dry-run=server", "-o", "name")]
    try:
        cold_sent, cold_took = zip(*(sent(cold.home, kubeconfig, *line) for line in lines), strict=True)
        warm_sent, warm_took = zip(*(sent(warm.home, kubeconfig, *line) for line in lines), strict=True)
        again, _ = zip(*(sent(cold.home, kubeconfig, *line) for line in lines), strict=True)  # its later lines
    finally:
        cold.remove()
        warm.remove()
    print(
        "\n  a session's first lines (get pods, apply): "
        f"cold {sum(map(len, cold_sent))} requests in {sum(cold_took) * 1000:.0f} ms, "
        f"warm {sum(map(len, warm_sent))} in {sum(warm_took) * 1000:.0f} ms\n  cold: {cold_sent}\n  warm: {warm_sent}"
    )
    cold_all, warm_all = {r for line in cold_sent for r in line}, {r for line in warm_sent for r in line}
    assert cold_all & DISCOVERY, cold_sent
    assert not warm_all & DISCOVERY, warm_sent
    assert f"GET api/v1/namespaces/{sandbox.namespace}/pods" in warm_sent[0]
    assert f"POST apis/apps/v1/namespaces/{sandbox.namespace}/deployments" in warm_sent[1]
    # As the same lines later in a cold session; but the schemas' index (no expiry of its own:
    # kubectl's cache revalidates it once its copy is a little older than the API server's uptime
    # allows) may be asked again: a small answer, 304 when unchanged.
    index = "GET openapi/v3"
    assert [[r for r in line if r != index] for line in warm_sent] == [
        [r for r in line if r != index] for line in again
    ], (warm_sent, again)
