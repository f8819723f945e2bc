"""WebSocket routes. One socket per page; features plug in as handlers (sandbox.realtime)."""

from django.urls import path

from sandbox.realtime.consumer import SandboxConsumer

websocket_urlpatterns = [path("ws/sandbox/", SandboxConsumer.as_asgi())]
