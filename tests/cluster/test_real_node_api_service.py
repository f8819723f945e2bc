"""Pods on the real node reach the API server at the `kubernetes` Service (10.96.0.1), and its
certificate verifies against the CA the Pod gets in its ServiceAccount volume, for the names and
the address in-cluster clients use.

busybox has no TLS client that verifies certificates, so the Pod carries the bytes (`nc` to the
Service address, through `kubectl exec -i`) and the handshake is made here, end to end through
the Pod's network: Service address, kube-proxy's rules, the API server on the node's address."""

from __future__ import annotations

import os
import select
import ssl
import subprocess

import pytest

from sandbox.cluster.nodeconfig import KUBERNETES_SERVICE_IP
from sandbox.cluster.tools import kubectl as kubectl_binary
from tests.cluster.conftest import Kubectl
from tests.cluster.test_real_node import pod

pytestmark = pytest.mark.usefixtures("real_node")  # a missing node fails, never skips

SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


class PodPipe:
    """A TCP connection opened by `nc` in a Pod, its bytes carried by `kubectl exec -i`."""

    def __init__(self, admin_kubeconfig: str, namespace: str, pod_name: str, host: str, port: int) -> None:
        exec_in_pod = [kubectl_binary(), "--kubeconfig", admin_kubeconfig, "exec", "-i", pod_name, "-n", namespace]
        self.process = subprocess.Popen(
            [*exec_in_pod, "--", "nc", "-w", "10", host, str(port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def send(self, data: bytes) -> None:
        assert self.process.stdin
        if data:
            self.process.stdin.write(data)
            self.process.stdin.flush()

    def receive(self) -> bytes:
        assert self.process.stdout
        ready, _, _ = select.select([self.process.stdout], [], [], 20)
        if not ready:
            raise TimeoutError("no answer through the Pod within 20 s")
        return os.read(self.process.stdout.fileno(), 65536)

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def https_get_through(pipe: PodPipe, context: ssl.SSLContext, server_name: str, path: str, token: str) -> bytes:
    """An HTTPS request over the Pod's connection: the TLS state lives here, the bytes go there."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)

    def exchange() -> bool:
        pipe.send(outgoing.read())
        data = pipe.receive()
        if data:
            incoming.write(data)
        return bool(data)

    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            if not exchange():
                raise ConnectionError("the connection closed during the handshake") from None
    headers = f"Host: {server_name}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n"
    tls.write(f"GET {path} HTTP/1.1\r\n{headers}\r\n".encode())
    answer = b""
    while True:
        try:
            chunk = tls.read(65536)
        except ssl.SSLWantReadError:
            if not exchange():
                return answer
            continue
        except ssl.SSLZeroReturnError:
            return answer
        if not chunk:
            return answer
        answer += chunk


@pytest.fixture
def client_pod(kubectl: Kubectl, namespace: str) -> str:
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("client", "sleep 600"))
    kubectl("wait", "--for=condition=Ready", "pod/client", "-n", namespace, "--timeout=60s")
    return "client"


def test_it_serves_the_kubernetes_service_to_a_pod_with_a_certificate_its_service_account_ca_verifies(
    kubectl: Kubectl, admin_kubeconfig: str, namespace: str, client_pod: str
) -> None:
    endpoints = kubectl("get", "endpointslices", "-n", "default", "-l", "kubernetes.io/service-name=kubernetes")
    assert "10.250.0.1" in endpoints.stdout
    ca = kubectl("exec", client_pod, "-n", namespace, "--", "cat", f"{SERVICE_ACCOUNT}/ca.crt").stdout
    token = kubectl("exec", client_pod, "-n", namespace, "--", "cat", f"{SERVICE_ACCOUNT}/token").stdout.strip()
    context = ssl.create_default_context(cadata=ca)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname

    # The names client-go and the article's tools use, and the bare address.
    for server_name in ("kubernetes.default.svc", "kubernetes.default.svc.cluster.local", KUBERNETES_SERVICE_IP):
        pipe = PodPipe(admin_kubeconfig, namespace, client_pod, KUBERNETES_SERVICE_IP, 443)
        try:
            answer = https_get_through(pipe, context, server_name, "/version", token)
        finally:
            pipe.close()
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        assert b'"gitVersion"' in answer


def test_it_fails_the_handshake_for_a_name_the_certificate_does_not_hold(
    kubectl: Kubectl, admin_kubeconfig: str, namespace: str, client_pod: str
) -> None:
    """So the test above proves verification: the same path with a wrong name is refused."""
    ca = kubectl("exec", client_pod, "-n", namespace, "--", "cat", f"{SERVICE_ACCOUNT}/ca.crt").stdout
    pipe = PodPipe(admin_kubeconfig, namespace, client_pod, KUBERNETES_SERVICE_IP, 443)
    try:
        with pytest.raises(ssl.SSLCertVerificationError):
            https_get_through(pipe, ssl.create_default_context(cadata=ca), "api.example.com", "/version", "")
    finally:
        pipe.close()
