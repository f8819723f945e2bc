"""The sandbox's NodePort, opened in the browser: a link (`/sandbox/nodeport/PORT/`) that the
web server carries to the node's address and the sandbox's own NodePort, for its owner only.

The node's NodePorts listen on an address the student's browser cannot reach (the local real
node's internal address; a kind node's container address), so the platform makes the request,
as kube-proxy's users on the node would, and serves the answer like a port-forward link's:
sandboxed, without cookies (sandbox/terminal/forward.py)."""

from __future__ import annotations

import http.client

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from sandbox.terminal.forward import owner_target, sandboxed

LIMIT = 10 * 1024 * 1024


def link(port: int) -> str:
    return f"/sandbox/nodeport/{port}/"


def _message(status: int, text: str) -> HttpResponse:
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


@require_http_methods(["GET", "HEAD"])
@login_required
def nodeport(request: HttpRequest, port: int, path: str = "") -> HttpResponse:
    if not isinstance(request.user, User):
        raise PermissionDenied
    found = owner_target(request, path)
    if isinstance(found, HttpResponse):
        return found
    sandbox, target = found
    if port != sandbox.node_port:
        # Only the sandbox's own port: another NodePort is another student's application.
        return _message(404, f"Your sandbox's NodePort is {sandbox.node_port}, not {port}.")
    host = settings.SANDBOX_NODEPORT_HOST
    if not host:
        return _message(503, "This platform does not know the nodes' address (SANDBOX_NODEPORT_HOST).")
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request(
            request.method or "GET",
            target,
            headers={"User-Agent": "k8s-sandbox-nodeport", "Accept": request.headers.get("Accept", "*/*")},
        )
        answer = connection.getresponse()
        body = answer.read(LIMIT)
        return sandboxed(answer.status, answer.getheaders(), body)
    except (OSError, http.client.HTTPException):
        return _message(
            502,
            f"Nothing answered on NodePort {port}. Does a Service of type NodePort use it, and does it "
            "select a running Pod?",
        )
    finally:
        connection.close()
