"""WebSocket routes. Each feature (terminal, live view, progress) adds its handlers here."""

from django.urls import URLPattern

websocket_urlpatterns: list[URLPattern] = []
