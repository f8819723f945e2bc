"""`kubectl port-forward` for students, without a port on our server: the terminal answers with
a link, and this view carries each HTTP request from the student's browser to their pod
through the API server's port-forward, with the student's own credentials (so RBAC keeps it
inside their namespace).

Because the answer is the student's own program served from the platform's origin, it is
sandboxed: no cookies in either direction, and a Content-Security-Policy `sandbox` header so
its scripts run in an opaque origin, away from the platform's session.
"""

from __future__ import annotations

import re

import yaml
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from sandbox import credentials, k8s, lifecycle, names
from sandbox.models import Sandbox, State

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer"}
DROPPED_RESPONSE = HOP_BY_HOP | {"set-cookie", "content-length", "content-security-policy"}


def link(pod: str, port: int) -> str:
    return f"/sandbox/forward/{pod}/{port}/"


def _message(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@require_http_methods(["GET", "HEAD"])
@login_required
def forward(request: HttpRequest, pod: str, port: int, path: str = "") -> HttpResponse:
    if not isinstance(request.user, User):
        raise PermissionDenied
    if not names.is_dns_subdomain(pod) or names.port(port) is None:
        return _message(404, "No such pod or port.")
    found = owner_target(request, path)
    if isinstance(found, HttpResponse):
        return found
    sandbox, target = found
    raw = (
        f"{request.method} {target} HTTP/1.1\r\nHost: {pod}:{port}\r\nConnection: close\r\n"
        f"User-Agent: k8s-sandbox-forward\r\nAccept: {request.headers.get('Accept', '*/*')}\r\n\r\n"
    ).encode()
    try:
        kubeconfig = yaml.safe_load(credentials.student_kubeconfig(sandbox))
        answer = k8s.forward_request(kubeconfig, sandbox.namespace, pod, port, raw, http_complete)
    except k8s.ApiException as exc:
        if exc.status in (403, 404):
            return _message(404, f"There is no pod {pod!r} in your namespace {sandbox.namespace}.")
        return _message(502, f"The cluster refused the port-forward ({exc.status} {exc.reason}).")
    except Exception:
        return _message(502, f"Nothing answered on port {port} of pod {pod}. Is the pod running, and listening there?")
    return _response(answer)


def owner_target(request: HttpRequest, path: str) -> tuple[Sandbox, str] | HttpResponse:
    """The signed-in student's ready sandbox and the path (with query) to ask their application
    for; or the answer that says why not."""
    assert isinstance(request.user, User)  # noqa: S101  (login_required, checked by the views)
    query = request.META.get("QUERY_STRING", "")
    if any(ord(ch) < 33 or ord(ch) == 127 for ch in path + query):  # no request splitting
        return _message(400, "The address contains characters that cannot be forwarded.")
    sandbox = lifecycle.live_sandbox(request.user)
    if sandbox is None or sandbox.state != State.READY:
        return _message(409, "Start your sandbox first.")
    return sandbox, "/" + path + (f"?{query}" if query else "")


def http_complete(answer: bytes) -> bool:
    """Whether an HTTP/1.x response is whole: its headers and Content-Length bytes of body
    (without a length, only the end of the connection tells)."""
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    return match is not None and len(body) >= int(match.group(1))


def _response(answer: bytes) -> HttpResponse:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/\d(?:\.\d)? (\d{3})", lines[0] if lines else "")
    if not match:
        return _message(502, "The pod did not answer with HTTP.")
    headers = [(name, value) for name, _, value in (line.partition(":") for line in lines[1:])]
    return sandboxed(int(match.group(1)), headers, body)


def sandboxed(status: int, headers: list[tuple[str, str]], body: bytes) -> HttpResponse:
    """A student's application's answer, served from the platform's origin: no cookies, no
    hop-by-hop headers, and a `sandbox` Content-Security-Policy so its scripts run in an
    opaque origin, away from the platform's session."""
    response = HttpResponse(body, status=status)
    for name, value in headers:
        if name.strip().lower() not in DROPPED_RESPONSE and name.strip():
            response[name.strip()] = value.strip()
    response["Content-Security-Policy"] = "sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    return response
