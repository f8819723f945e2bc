"""A lesson check waits for a cluster it cannot reach, but reports what a reachable cluster
answered: sandbox.k8s.unreachable tells the two apart (the exec helper wraps every failure in
an ApiException with status 0, its cause kept as the context)."""

from __future__ import annotations

import ssl

import urllib3
import websocket

from sandbox import k8s


def wrapped(cause: BaseException) -> k8s.ApiException:
    """As kubernetes.stream does: raise ApiException(status=0, reason=str(e)) inside the except."""
    try:
        try:
            raise cause
        except Exception as error:
            raise k8s.ApiException(status=0, reason=str(error))  # noqa: B904  (as the client does)
    except k8s.ApiException as api:
        return api


def test_it_takes_a_refused_or_cut_connection_as_unreachable() -> None:
    assert k8s.unreachable(ConnectionRefusedError(111, "Connection refused"))
    assert k8s.unreachable(wrapped(ConnectionRefusedError(111, "Connection refused")))
    assert k8s.unreachable(wrapped(ConnectionResetError(104, "reset")))
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    assert k8s.unreachable(urllib3.exceptions.MaxRetryError(None, "/api", refused))  # type: ignore[arg-type]
    assert k8s.unreachable(urllib3.exceptions.ProtocolError("Connection aborted."))
    # An API server killed during an exec's TLS or websocket handshake, or under its stream.
    eof = ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF occurred in violation of protocol")
    assert k8s.unreachable(eof)
    assert k8s.unreachable(wrapped(eof))
    assert k8s.unreachable(websocket.WebSocketConnectionClosedException("Connection to remote host was lost."))
    # The same cut on a plain request (a proxy check): urllib3 wraps it in its own SSLError.
    wrapped_eof = urllib3.exceptions.SSLError(eof)
    assert k8s.unreachable(urllib3.exceptions.MaxRetryError(None, "/api", wrapped_eof))  # type: ignore[arg-type]
    bad_certificate = urllib3.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    assert not k8s.unreachable(urllib3.exceptions.MaxRetryError(None, "/api", bad_certificate))  # type: ignore[arg-type]


def test_a_cut_exec_stream_is_worth_checking_again() -> None:
    """A lesson check retries what is transient: a stream cut mid-command is, as is a refusal."""
    assert k8s.is_transient(ssl.SSLEOFError(8, "EOF occurred in violation of protocol"))
    assert k8s.is_transient(websocket.WebSocketConnectionClosedException("Connection to remote host was lost."))
    assert not k8s.is_transient(ssl.SSLCertVerificationError(1, "certificate verify failed"))
    assert not k8s.is_transient(k8s.ApiException(status=403, reason="Forbidden"))


def test_it_takes_an_answer_or_a_slow_one_as_reachable() -> None:
    assert not k8s.unreachable(wrapped(ValueError("Handshake status 403 Forbidden")))
    assert not k8s.unreachable(k8s.ApiException(status=0, reason="no cause"))
    assert not k8s.unreachable(k8s.ApiException(status=503, reason="Service Unavailable"))
    assert not k8s.unreachable(urllib3.exceptions.ReadTimeoutError(None, "/api", "Read timed out."))  # type: ignore[arg-type]
