"""Lesson 06's promise, on real containers: while its Deployment rolls out 1.0.1, the page
behind its NodePort Service answers every request, first from 1.0.0, then from both, then
from 1.0.1 only. The requests go where a student's NodePort link sends them (the node's
address), one after another for the whole rollout."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from lessons import templating
from sandbox.cluster.nodeconfig import NODE_IP
from tests.cluster.conftest import Kubectl, kubectl_json

pytestmark = pytest.mark.usefixtures("real_node")

LESSON = Path(__file__).resolve().parents[2] / "lessons" / "content" / "06-deployment-rolling-update"
VERSIONS = ("1.0.0.RELEASE", "1.0.1.RELEASE")


def version_of(page: str) -> str:
    found = [version for version in VERSIONS if version in page]
    return found[0] if len(found) == 1 else f"unclear page: {page[:80]!r}"


def test_the_page_answers_throughout_lesson_06s_rolling_update(kubectl: Kubectl, namespace: str) -> None:
    # nodePort 0: the API server picks a free one (a sandbox gets its reserved port instead).
    context = {"namespace": namespace, "node_port": 0, "registry": ""}
    manifest = templating.render((LESSON / "manifests" / "petclinic-deployment.yaml").read_text(), context)
    kubectl("apply", "-n", namespace, "-f", "-", input=manifest)
    kubectl("rollout", "status", "deployment/petclinic", "-n", namespace, "--timeout=180s")
    port = kubectl_json(kubectl, "get", "service", "petclinic", "-n", namespace)["spec"]["ports"][0]["nodePort"]

    answers: list[str] = []
    failures: list[str] = []
    stop = threading.Event()

    def ask_until_stopped() -> None:
        while not stop.is_set():
            try:
                with urllib.request.urlopen(f"http://{NODE_IP}:{port}/", timeout=5) as response:
                    answers.append(version_of(response.read().decode(errors="replace")))
            except OSError as exc:  # refused, reset, timed out, or an HTTP error status
                failures.append(f"{time.monotonic():.1f}: {exc}")
            time.sleep(0.05)

    asker = threading.Thread(target=ask_until_stopped)
    asker.start()
    try:
        time.sleep(1)
        image = f"petclinic=spring2go/spring-petclinic:{VERSIONS[1]}"
        kubectl("set", "image", "deployment/petclinic", image, "-n", namespace)
        kubectl("rollout", "status", "deployment/petclinic", "-n", namespace, "--timeout=180s")
        # The last old Pod leaves the Service's endpoints a moment after the rollout is complete.
        time.sleep(3)
    finally:
        stop.set()
        asker.join(timeout=10)

    seen = Counter(answers)
    print(f"  {len(answers)} answers during the rollout: {dict(seen)}; {len(failures)} failed")
    assert not failures, f"{len(failures)} of {len(answers) + len(failures)} requests failed: {failures[:5]}"
    assert set(seen) == set(VERSIONS), seen
    assert answers[0] == VERSIONS[0]
    assert answers[-5:] == [VERSIONS[1]] * 5
