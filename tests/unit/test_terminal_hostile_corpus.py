"""A corpus of hostile or malformed lines: each is refused by the parser or the policy, with a
message that says why, before anything could run."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandbox.terminal import policy
from sandbox.terminal.errors import Denied
from sandbox.terminal.parser import MAX_LINE, ParseError, parse

WORKSPACE = {"petclinic-pod.yml", "service.yml"}
CORPUS = Path(__file__).parent / "data" / "hostile_lines.txt"


def corpus() -> list[tuple[str, str]]:
    cases = []
    for raw in CORPUS.read_text().splitlines():
        if raw.strip() and not raw.startswith("#"):
            fragment, line = raw.split("\t", 1)
            cases.append((fragment, line))
    # Lines that cannot be written in a text file.
    cases += [
        ("too long", "kubectl get pods " + "x" * MAX_LINE),
        ("control characters", "kubectl get pods\x00 --kubeconfig=/etc/x"),
        ("control characters", "kubectl get pods\n/bin/sh"),
        ("control characters", "kubectl get pods\r--token=x"),
        ("control characters", "kubectl get \x1b[31mpods"),
        ("control characters", "kubectl get pods\x7f"),
        ("too many words", "kubectl get pods " + " ".join(["a"] * 300)),
    ]
    return cases


def refusal(line: str) -> str:
    try:
        policy.check_line(parse(line), WORKSPACE)
    except (ParseError, Denied) as exc:
        return exc.message
    pytest.fail(f"allowed: {line!r}")


def test_it_has_a_corpus_of_at_least_150_lines() -> None:
    assert len(corpus()) >= 150


@pytest.mark.parametrize(("fragment", "line"), corpus(), ids=[f"{i:03d}" for i in range(len(corpus()))])
def test_it_refuses_the_line_with_a_clear_message(fragment: str, line: str) -> None:
    message = refusal(line)
    assert fragment in message
    assert len(message) > 15  # a sentence, not a code


@pytest.mark.parametrize(
    "line",
    [
        "kubectl get pods",
        "kubectl get pods -o wide",
        "kubectl get pods -w",
        "kubectl apply -f petclinic-pod.yml",
        "kubectl apply -f ./petclinic-pod.yml",
        "kubectl apply -f .",
        "cat petclinic-pod.yml | kubectl apply -f -",
        "kubectl describe pod petclinic",
        "kubectl port-forward --help" if False else "kubectl logs -f petclinic",
        "kubectl logs -p petclinic",
        "kubectl exec -it petclinic -- sh -c 'printenv | grep TEST_CONFIG'",
        "kubectl run tmp --rm -it --image=busybox -- /bin/sh",
        "kubectl get pods -o jsonpath='{.items[*].metadata.name}'",
        "kubectl get pods -o jsonpath={.items[0].status.podIP}",
        "kubectl get svc petclinic -o go-template='{{.spec.clusterIP}}'",
        "kubectl rollout status deployment/petclinic",
        "kubectl rollout undo deployment/petclinic --to-revision=1",
        "kubectl set image deployment/petclinic petclinic=spring2go/spring-petclinic:1.0.1.RELEASE",
        "kubectl create configmap app-config --from-literal=TEST_CONFIG=hello",
        "kubectl create configmap c --from-file=petclinic-pod.yml",
        "kubectl create configmap c --from-file=key=service.yml",
        "kubectl create deployment web --image=nginx -r 3",
        "kubectl expose deployment web --port=8080 --target-port=8080 --type=NodePort",
        "kubectl run web --image=nginx --port=8080",
        "kubectl port-forward petclinic 8080:8080",
        "kubectl port-forward pod/petclinic 8080",
        "kubectl get all -n kube-system",
        "kubectl get pods -A | grep -i running | wc -l",
        "kubectl get pods | sort -k 3 | uniq -c | head -n 3",
        "kubectl get pods && kubectl get svc; kubectl get deploy",
        "kubectl config view",
        "kubectl config current-context",
        "kubectl auth can-i create pods",
        "kubectl get pods -n default",
        "kubectl get pods -n=default",
        "kubectl get pods --namespace default -o=wide",
        "kubectl delete pod web --cascade=foreground --grace-period 0",
        "kubectl apply -f petclinic-pod.yml --dry-run=server -o yaml",
        "kubectl diff -f petclinic-pod.yml",
        "kubectl diff --server-side -f petclinic-pod.yml",
        "kubectl logs -f -p petclinic -c app",
        "kubectl get pods -w=false",
        "kubectl version --client",
        "kubectl get pods -v=6",
        "kubectl set env deployment/x --from=configmap/app-config",
        "kubectl create secret generic s --from-literal=SPRING_DATASOURCE_URL=jdbc:mysql://mysql:3306/petclinic",
        "kubectl get pods -l 'app in (petclinic, mysql)'",
        "kubectl get pods # a comment, with --kubeconfig=/x inside",
        "echo hello | grep hell",
        "ls",
        "history",
        "help",
        "clear",
    ],
)
def test_it_allows_what_the_lessons_need(line: str) -> None:
    plan = policy.check_line(parse(line), WORKSPACE)
    assert plan.pipelines


def test_it_marks_streaming_and_interactive_kubectl() -> None:
    def call(line: str) -> policy.KubectlStep:
        step = policy.check_line(parse(line), WORKSPACE).pipelines[0][1][0]
        assert isinstance(step, policy.KubectlStep)
        return step

    assert call("kubectl get pods -w").call.streaming
    assert call("kubectl logs -f web").call.streaming
    assert call("kubectl rollout status deploy/web").call.streaming
    assert call("kubectl exec -it web -- sh").call.interactive
    assert not call("kubectl get pods").call.streaming
    assert call("kubectl apply -f petclinic-pod.yml").call.files == ["petclinic-pod.yml"]
