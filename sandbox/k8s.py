"""The one module that imports the kubernetes client. Everything else asks it for API objects
or calls the small operations below, which take and return plain dicts and strings.

The platform reaches the cluster only through a kubeconfig, so the same code serves the local
control plane, kind and a remote cluster. Four identities, one kubeconfig each:
settings.CLUSTER_KUBECONFIG, the operator (provisioning; the default);
settings.CLUSTER_CHECKER_KUBECONFIG, the read-only checker (live view, lesson checks), inside
`as_checker()`; settings.CLUSTER_PROBER_KUBECONFIG, GET through the API server's proxy and exec
into the sandboxes' Pods only (lesson checks' HTTP requests and commands), inside `as_prober()`;
settings.CLUSTER_ADMIN_KUBECONFIG, a cluster admin, inside `as_admin()`, only for the one-time
install of the operator, the checker, the prober and the shared objects.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import urllib3
import websocket
from django.conf import settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

__all__ = [
    "ApiException",
    "allowed",
    "api_client",
    "apply",
    "apps",
    "as_admin",
    "as_checker",
    "as_prober",
    "connection",
    "core",
    "create",
    "delete",
    "delete_all_in_namespace",
    "discovery",
    "discovery_version",
    "exec_output",
    "forward_request",
    "is_transient",
    "list_objects",
    "list_raw",
    "patch_namespace",
    "proxy_get",
    "rbac",
    "read_secret",
    "request_count",
    "request_token",
    "reset_clients",
    "unreachable",
    "watch_raw",
]

_lock = threading.Lock()
_clients: dict[Path, client.ApiClient] = {}
_identity: ContextVar[str] = ContextVar("k8s_identity", default="CLUSTER_KUBECONFIG")
_requests = 0


class _CountingApiClient(client.ApiClient):  # type: ignore[misc]  # the client is untyped
    """Counts HTTP requests, so the benchmark can report API requests per sandbox."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        global _requests
        _requests += 1
        return super().request(*args, **kwargs)


def api_client() -> client.ApiClient:
    """A process-wide client per kubeconfig (it pools connections); built on first use."""
    name = _identity.get()
    path: Path = getattr(settings, name)
    with _lock:
        if path not in _clients:
            if not path.is_file():
                raise FileNotFoundError(f"no kubeconfig at {path}: run `make cluster` or set {name}")
            configuration = client.Configuration()
            config.load_kube_config(config_file=str(path), client_configuration=configuration)
            _clients[path] = _CountingApiClient(configuration=configuration)
        return _clients[path]


@contextmanager
def _as(setting: str) -> Iterator[None]:
    token = _identity.set(setting)
    try:
        yield
    finally:
        _identity.reset(token)


def as_admin() -> AbstractContextManager[None]:
    """Use the cluster admin's kubeconfig inside this block (install only)."""
    return _as("CLUSTER_ADMIN_KUBECONFIG")


def as_checker() -> AbstractContextManager[None]:
    """Use the read-only checker's kubeconfig inside this block (live view, lesson checks)."""
    return _as("CLUSTER_CHECKER_KUBECONFIG")


def as_prober() -> AbstractContextManager[None]:
    """Use the prober's kubeconfig inside this block (GET through the API server's proxy; exec
    into Pods of the sandboxes' namespaces only)."""
    return _as("CLUSTER_PROBER_KUBECONFIG")


def reset_clients() -> None:
    """Forget the cached clients, e.g. after a kubeconfig was rewritten."""
    with _lock:
        for cached in _clients.values():
            cached.close()
        _clients.clear()


def request_count() -> int:
    return _requests


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def apps() -> client.AppsV1Api:
    return client.AppsV1Api(api_client())


def rbac() -> client.RbacAuthorizationV1Api:
    return client.RbacAuthorizationV1Api(api_client())


def batch() -> client.BatchV1Api:
    return client.BatchV1Api(api_client())


def autoscaling() -> client.AutoscalingV2Api:
    return client.AutoscalingV2Api(api_client())


def networking() -> client.NetworkingV1Api:
    return client.NetworkingV1Api(api_client())


def discovery() -> client.DiscoveryV1Api:
    return client.DiscoveryV1Api(api_client())


def admission() -> client.AdmissionregistrationV1Api:
    return client.AdmissionregistrationV1Api(api_client())


def discovery_version() -> dict[str, Any]:
    """The server's /version, as a dict."""
    info = client.VersionApi(api_client()).get_code(_request_timeout=settings.CLUSTER_REQUEST_TIMEOUT)
    return {"gitVersion": info.git_version, "major": info.major, "minor": info.minor}


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: the API server is down, overloaded or timed out, not refusing the request."""
    if isinstance(exc, ApiException):
        return exc.status in (0, 429, 500, 502, 503, 504)
    import urllib3.exceptions

    return isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError) or unreachable(exc)


def unreachable(exc: BaseException) -> bool:
    """The API server itself could not be reached (refused, reset, no connection in time), as
    opposed to an answer, however bad, or a slow one: a lesson check then waits for the cluster
    instead of telling the student that their Pod failed."""
    if isinstance(exc, ApiException) and not exc.status:
        # The stream helper (exec) reports every failure so, with the cause as the context.
        inner = exc.__cause__ or exc.__context__
        return inner is not None and unreachable(inner)
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, urllib3.exceptions.SSLError):  # urllib3 wraps the ssl module's error
        inner = exc.args[0] if exc.args and isinstance(exc.args[0], BaseException) else exc.__context__
        return inner is not None and unreachable(inner)
    connect = urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError
    # The connection cut under a request by an API server going away: mid-request (ProtocolError),
    # or mid-TLS or mid-stream for an exec's websocket (seen when it was killed: an EOF "in
    # violation of protocol" before the handshake's answer).
    cut = (
        urllib3.exceptions.ProtocolError
        | ConnectionError
        | ssl.SSLEOFError
        | ssl.SSLZeroReturnError
        | websocket.WebSocketConnectionClosedException
    )
    return isinstance(exc, connect | cut)


def api_ready() -> bool:
    """Whether the API server says it is ready (/readyz, readable by every identity). After a
    restart it answers before that, and may then refuse what it allows a moment later (its
    authorizer still filling its caches): an answer got while it was not ready is not trusted."""
    try:
        api_client().call_api("/readyz", "GET", auth_settings=["BearerToken"], _request_timeout=_timeout())
    except (ApiException, urllib3.exceptions.HTTPError, OSError):
        return False
    return True


# --- Generic operations on manifests ------------------------------------------------------------
# kind -> (api factory, create method, delete method, list method, namespaced)
_KINDS: dict[str, tuple[Callable[[], Any], str, str, str, bool]] = {
    "Namespace": (core, "create_namespace", "delete_namespace", "list_namespace", False),
    "ServiceAccount": (
        core,
        "create_namespaced_service_account",
        "delete_namespaced_service_account",
        "list_namespaced_service_account",
        True,
    ),
    "Secret": (core, "create_namespaced_secret", "delete_namespaced_secret", "list_namespaced_secret", True),
    "ConfigMap": (
        core,
        "create_namespaced_config_map",
        "delete_namespaced_config_map",
        "list_namespaced_config_map",
        True,
    ),
    "Service": (core, "create_namespaced_service", "delete_namespaced_service", "list_namespaced_service", True),
    "Pod": (core, "create_namespaced_pod", "delete_namespaced_pod", "list_namespaced_pod", True),
    "ResourceQuota": (
        core,
        "create_namespaced_resource_quota",
        "delete_namespaced_resource_quota",
        "list_namespaced_resource_quota",
        True,
    ),
    "LimitRange": (
        core,
        "create_namespaced_limit_range",
        "delete_namespaced_limit_range",
        "list_namespaced_limit_range",
        True,
    ),
    "Role": (rbac, "create_namespaced_role", "delete_namespaced_role", "list_namespaced_role", True),
    "RoleBinding": (
        rbac,
        "create_namespaced_role_binding",
        "delete_namespaced_role_binding",
        "list_namespaced_role_binding",
        True,
    ),
    "ClusterRole": (rbac, "create_cluster_role", "delete_cluster_role", "list_cluster_role", False),
    "ClusterRoleBinding": (
        rbac,
        "create_cluster_role_binding",
        "delete_cluster_role_binding",
        "list_cluster_role_binding",
        False,
    ),
    "NetworkPolicy": (
        networking,
        "create_namespaced_network_policy",
        "delete_namespaced_network_policy",
        "list_namespaced_network_policy",
        True,
    ),
    "ValidatingAdmissionPolicy": (
        admission,
        "create_validating_admission_policy",
        "delete_validating_admission_policy",
        "list_validating_admission_policy",
        False,
    ),
    "ValidatingAdmissionPolicyBinding": (
        admission,
        "create_validating_admission_policy_binding",
        "delete_validating_admission_policy_binding",
        "list_validating_admission_policy_binding",
        False,
    ),
}


def _timeout() -> int:
    return int(settings.CLUSTER_REQUEST_TIMEOUT)


def create(manifest: dict[str, Any]) -> dict[str, Any]:
    """Create an object; an object that already exists counts as done (409 Conflict), which
    makes every provisioning step safe to repeat. Returns the object's metadata."""
    factory, create_method, _, _, namespaced = _KINDS[manifest["kind"]]
    api = factory()
    args = [manifest["metadata"]["namespace"]] if namespaced else []
    try:
        created = getattr(api, create_method)(*args, manifest, _request_timeout=_timeout())
    except ApiException as exc:
        if exc.status != 409:
            raise
        return {"name": manifest["metadata"]["name"], "existed": True}
    return {"name": created.metadata.name, "uid": created.metadata.uid, "existed": False}


def apply(manifest: dict[str, Any]) -> None:
    """Create an object, or bring an existing one in line with `manifest` (a JSON merge patch,
    which replaces lists such as a role's rules whole). For the shared objects, so that an
    upgrade of the platform updates them on the next install."""
    if create(manifest)["existed"]:
        factory, create_method, _, _, namespaced = _KINDS[manifest["kind"]]
        patch_method = create_method.replace("create_", "patch_", 1)
        args = [manifest["metadata"]["name"]] + ([manifest["metadata"]["namespace"]] if namespaced else [])
        getattr(factory(), patch_method)(*args, manifest, _request_timeout=_timeout())


def delete(kind: str, name: str, namespace: str | None = None) -> bool:
    """Delete an object; one that is already gone counts as done. True if it was there."""
    factory, _, delete_method, _, namespaced = _KINDS[kind]
    args = [name, namespace] if namespaced else [name]
    try:
        getattr(factory(), delete_method)(*args, _request_timeout=_timeout(), propagation_policy="Background")
    except ApiException as exc:
        if exc.status != 404:
            raise
        return False
    return True


def list_objects(kind: str, *, label_selector: str, namespace: str | None = None) -> list[dict[str, Any]]:
    """Name, namespace and labels of every object of `kind` matching the selector;
    cluster-wide for namespaced kinds when no namespace is given."""
    factory, _, _, list_method, namespaced = _KINDS[kind]
    api = factory()
    args: list[str] = []
    if namespaced and namespace is None:
        list_method = list_method.replace("list_namespaced_", "list_") + "_for_all_namespaces"
    elif namespaced:
        args = [namespace or ""]
    result = getattr(api, list_method)(*args, label_selector=label_selector, _request_timeout=_timeout())
    return [
        {"name": item.metadata.name, "namespace": item.metadata.namespace, "labels": item.metadata.labels or {}}
        for item in result.items
    ]


def patch_namespace(name: str, *, labels: dict[str, str | None], annotations: dict[str, str | None]) -> None:
    """Merge-patch labels/annotations; a None value removes the key."""
    body = {"metadata": {"labels": labels, "annotations": annotations}}
    core().patch_namespace(name, body, _request_timeout=_timeout())


# Kinds a student creates in the lessons; reset() removes every one of them.
STUDENT_KINDS: list[tuple[Callable[[], Any], str]] = [
    (apps, "delete_collection_namespaced_deployment"),
    (apps, "delete_collection_namespaced_replica_set"),
    (apps, "delete_collection_namespaced_stateful_set"),
    # CronJobs before Jobs, Jobs before Pods: nothing left to make new ones.
    (batch, "delete_collection_namespaced_cron_job"),
    (batch, "delete_collection_namespaced_job"),
    (autoscaling, "delete_collection_namespaced_horizontal_pod_autoscaler"),
    (core, "delete_collection_namespaced_pod"),
    (core, "delete_collection_namespaced_config_map"),
    (core, "delete_collection_namespaced_service"),
    (networking, "delete_collection_namespaced_ingress"),
]


def delete_all_in_namespace(namespace: str, *, keep_secret: str) -> None:
    """Remove what a student made in `namespace`, keeping the sandbox's own objects. Only
    deletecollection calls, so the operator needs no right to read students' objects."""
    for factory, method in STUDENT_KINDS:
        getattr(factory(), method)(namespace, _request_timeout=_timeout())
    core().delete_collection_namespaced_secret(
        namespace, field_selector=f"metadata.name!={keep_secret}", _request_timeout=_timeout()
    )


def read_secret(name: str, namespace: str) -> dict[str, Any]:
    """uid and (base64-decoded) data of a Secret."""
    import base64

    secret = core().read_namespaced_secret(name, namespace, _request_timeout=_timeout())
    data = {key: base64.b64decode(value) for key, value in (secret.data or {}).items()}
    return {"uid": secret.metadata.uid, "data": data}


def request_token(service_account: str, namespace: str, body: dict[str, Any]) -> str:
    result = core().create_namespaced_service_account_token(
        service_account, namespace, body, _request_timeout=_timeout()
    )
    token: str = result.status.token
    return token


def allowed(user: str, verb: str, resource: str, namespace: str) -> bool:
    """Ask the API server's authorizer (a SubjectAccessReview) whether `user` may do this now."""
    body = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": {"verb": verb, "resource": resource, "namespace": namespace}},
    }
    review = client.AuthorizationV1Api(api_client()).create_subject_access_review(body, _request_timeout=_timeout())
    return bool(review.status.allowed)


def connection() -> dict[str, Any]:
    """Server URL and CA bundle of the platform's kubeconfig, to build students' kubeconfigs."""
    configuration = api_client().configuration
    ca_data = None
    if configuration.ssl_ca_cert:
        with open(configuration.ssl_ca_cert, "rb") as handle:
            ca_data = handle.read()
    return {"server": configuration.host, "ca_data": ca_data, "insecure": not configuration.verify_ssl}


# --- Raw list and watch, for the live view's reflectors ------------------------------------------
# kind -> (api factory, cluster-wide list method). JSON is read raw: the live view needs a few
# fields of each object, not the client's model classes.
_WATCHABLE: dict[str, tuple[Callable[[], Any], str]] = {
    "Namespace": (core, "list_namespace"),
    "Node": (core, "list_node"),  # the admin dashboard's capacity (read, not watched)
    "ResourceQuota": (core, "list_resource_quota_for_all_namespaces"),  # and each sandbox's quota use
    "Pod": (core, "list_pod_for_all_namespaces"),
    "Event": (core, "list_event_for_all_namespaces"),
    "Service": (core, "list_service_for_all_namespaces"),
    "ConfigMap": (core, "list_config_map_for_all_namespaces"),
    "Deployment": (apps, "list_deployment_for_all_namespaces"),
    "ReplicaSet": (apps, "list_replica_set_for_all_namespaces"),
    "EndpointSlice": (discovery, "list_endpoint_slice_for_all_namespaces"),
    "Ingress": (networking, "list_ingress_for_all_namespaces"),
}


def list_raw(kind: str, *, label_selector: str = "", field_selector: str = "") -> tuple[list[dict[str, Any]], str]:
    """All objects of a kind (JSON dicts) and the list's resourceVersion to watch from."""
    factory, method = _WATCHABLE[kind]
    response = getattr(factory(), method)(
        label_selector=label_selector,
        field_selector=field_selector,
        _preload_content=False,
        _request_timeout=_timeout() * 3,
    )
    body = json.loads(response.data)
    return body.get("items") or [], body["metadata"]["resourceVersion"]


def watch_raw(
    kind: str, resource_version: str, *, label_selector: str = "", timeout_seconds: int = 240
) -> Iterator[dict[str, Any]]:
    """Watch events ({"type", "object"}) from a resourceVersion, with bookmarks. Ends when the
    server closes the watch (after timeout_seconds); the caller resumes from the last version."""
    factory, method = _WATCHABLE[kind]
    response = getattr(factory(), method)(
        label_selector=label_selector,
        watch=True,
        resource_version=resource_version,
        allow_watch_bookmarks=True,
        timeout_seconds=timeout_seconds,
        _preload_content=False,
        # Bookmarks arrive about once a minute, so a silent connection this long is dead.
        _request_timeout=(_timeout(), timeout_seconds + 90),
    )
    try:
        buffer = b""
        for chunk in response.stream(65536, decode_content=False):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    yield json.loads(line)
    finally:
        response.release_conn()


def forward_request(
    kubeconfig: dict[str, Any],
    namespace: str,
    pod: str,
    port: int,
    request: bytes,
    complete: Callable[[bytes], bool],
    *,
    timeout: float = 15.0,
    limit: int = 10 * 1024 * 1024,
) -> bytes:
    """Send raw bytes to a pod's port through the API server's port-forward (with the given
    credentials, so RBAC decides) and return what the pod answers: until `complete(answer)`
    says it is whole, the pod closes the connection, or `limit` bytes. The forwarded stream
    does not always pass the pod's close on, hence the completeness check."""
    from kubernetes.stream import portforward

    configuration = client.Configuration()
    config.load_kube_config_from_dict(kubeconfig, client_configuration=configuration)
    api = client.ApiClient(configuration)
    try:
        forward = portforward(
            client.CoreV1Api(api).connect_get_namespaced_pod_portforward, pod, namespace, ports=str(port)
        )
    except Exception as exc:
        api.close()
        # The WebSocket handshake fails with the HTTP status (404 no such pod, 403 forbidden).
        status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
        found = re.search(r"[Hh]andshake status (\d{3})", f"{getattr(exc, 'reason', '')} {exc}")
        if found:
            status = int(found.group(1))
        if isinstance(status, int) and status:
            raise ApiException(status=status, reason=str(getattr(exc, "reason", exc))) from exc
        raise
    sock = forward.socket(port)
    answer = b""
    try:
        sock.sendall(request)
        sock.settimeout(timeout)
        while len(answer) < limit and not complete(answer):
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                if answer:
                    break  # an answer without a length, from a pod that keeps the connection open
                raise
            if not chunk:
                break
            answer += chunk
    finally:
        sock.close()
        api.close()
    error = forward.error(port)
    if error and not answer:
        raise ConnectionError(error)
    return answer[:limit]


def proxy_get(
    kind: str, namespace: str, name: str, port: int, path: str, *, limit: int = 256 * 1024
) -> tuple[int, str]:
    """GET `path` from a Service's or Pod's port through the API server's proxy: (HTTP status,
    the first `limit` bytes of the body as text). The proxy's own failures (no endpoints, a
    refused connection) come back as their status (503, 502...) with the server's message."""
    connect = {
        "Service": core().connect_get_namespaced_service_proxy_with_path,
        "Pod": core().connect_get_namespaced_pod_proxy_with_path,
    }[kind]
    try:
        response = connect(
            f"{name}:{port}", namespace, path.lstrip("/"), _preload_content=False, _request_timeout=(_timeout(), 10)
        )
    except ApiException as exc:
        return int(exc.status or 0), str(exc.body or exc.reason or "")[:limit]
    except urllib3.exceptions.HTTPError as exc:
        if unreachable(exc):  # not the Pod's answer: the cluster is away, which the caller waits out
            raise
        return 0, str(exc)[:limit]  # the API server did not answer in time
    try:
        body = response.read(limit)
    finally:
        response.release_conn()
    return int(response.status), body.decode(errors="replace")


def exec_output(
    namespace: str, pod: str, container: str | None, command: list[str], *, timeout: float = 10, limit: int = 64 * 1024
) -> tuple[int | None, str]:
    """Run `command` in a container of a Pod, with no terminal and no input: (its exit status,
    the first `limit` characters of stdout and stderr together). None for a command that did not
    finish within `timeout` seconds (it is left to end when the connection closes) or that could
    not start; the API server's refusal comes back as its message."""
    from kubernetes.stream import stream

    # The stream helper swaps the client's request method while it connects: a client of its
    # own, so that concurrent requests on the shared one are not sent over a websocket.
    shared = api_client()
    private = client.ApiClient(configuration=shared.configuration)
    try:
        response = stream(
            client.CoreV1Api(private).connect_get_namespaced_pod_exec,
            pod,
            namespace,
            command=command,
            **({"container": container} if container else {}),
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
            _request_timeout=_timeout(),
        )
    except ApiException as exc:
        if unreachable(exc):  # not the command's failure: the cluster is away
            raise
        return None, _api_message(exc)
    except Exception as exc:  # the websocket library's own errors: a refused upgrade, a reset
        if unreachable(exc):  # not the command's failure: the cluster is away
            raise
        return None, str(exc)
    output: list[str] = []
    size = 0
    deadline = time.monotonic() + timeout
    try:
        while response.is_open() and time.monotonic() < deadline:
            response.update(timeout=min(1.0, max(deadline - time.monotonic(), 0.01)))
            # read_stdout() would wait for data with no limit: the channels, with none.
            for chunk in (response.read_channel(_STDOUT), response.read_channel(_STDERR)):
                if chunk and size < limit:
                    output.append(chunk[: limit - size])
                    size += len(output[-1])
        status = None if response.is_open() else _exit_status(response.read_channel(_ERROR_CHANNEL), output)
    finally:
        response.close()
        private.close()
    return status, "".join(output)


# The exec protocol's channels: the command's output, its errors, its final status.
_STDOUT, _STDERR, _ERROR_CHANNEL = 1, 2, 3


def _exit_status(text: str, output: list[str]) -> int | None:
    """The exit status from the error channel's Status; a command that could not start has none
    (its reason goes to the output)."""
    try:
        status = json.loads(text)
    except ValueError:
        return None
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 0))
    output.append(str(status.get("message", "")))
    return None


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except (TypeError, ValueError):
        return str(exc.body or exc.reason or exc)
