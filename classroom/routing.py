"""WebSocket routes of the classes (config/asgi.py adds them to the sandbox page's)."""

from django.urls import path

from classroom.consumer import ClassConsumer

websocket_urlpatterns = [path("ws/class/<int:pk>/", ClassConsumer.as_asgi())]
