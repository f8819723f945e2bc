"""How a feature plugs into the sandbox page's WebSocket: it registers a handler factory for a
message-type prefix when its app starts (`register("terminal", TerminalHandler)` in
AppConfig.ready), and the consumer makes one handler of each per socket. Handlers see the
socket through `Socket`, never the consumer class, so they do not import it (no import loop),
and hear what happens on the page through the `on_*` methods, called for every handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from django.contrib.auth.models import User

from sandbox.models import Sandbox


class Socket(Protocol):
    """What a handler may use of the page's socket."""

    user: User
    sandbox: Sandbox | None
    language: str
    scope: dict[str, Any]
    channel_layer: Any
    channel_name: str

    async def send_json(self, content: dict[str, Any]) -> None: ...
    async def refresh_sandbox(self) -> Sandbox | None: ...
    async def command_done(self, payload: dict[str, Any]) -> None: ...
    def hears(self, sandbox_id: int) -> bool: ...


class Handler:
    """One feature's part of a page's socket. `receive` gets the messages of its prefix; the
    rest are what the page's other features tell every handler, which ignores what it does not
    need."""

    def __init__(self, socket: Socket) -> None:
        self.socket = socket

    async def receive(self, message: dict[str, Any]) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """The socket closed: end what the handler started."""

    async def on_command_done(self, payload: dict[str, Any]) -> None:
        """A terminal line finished: {"line", "status"}."""

    async def on_cluster_change(self, event: dict[str, Any]) -> None:
        """A change in the sandbox, from the watcher: {"op", "object"}."""

    async def on_reconnected(self) -> None:
        """Redis came back after an outage (sandbox.realtime.layer): the socket's groups are
        joined again, but what they carried meanwhile is lost; catch the page up."""

    def hears(self, sandbox_id: int) -> bool:
        """Whether this handler receives the sandbox's changes for the page."""
        return False


Factory = Callable[[Socket], Handler]
_factories: dict[str, Factory] = {}


def register(prefix: str, factory: Factory) -> None:
    """Messages of type `<prefix>.*` go to a handler made by `factory`, one per socket."""
    _factories[prefix] = factory


def unregister(prefix: str) -> None:
    _factories.pop(prefix, None)


def make_all(socket: Socket) -> dict[str, Handler]:
    """One handler of each registered feature, in the order the apps registered them."""
    return {prefix: factory(socket) for prefix, factory in _factories.items()}
