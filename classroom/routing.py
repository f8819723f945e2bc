"""WebSocket routes of the classes (config/asgi.py adds them to the sandbox page's)."""

from django.urls import path

from classroom.consumer import ClassConsumer
from classroom.shadow_socket import WatchConsumer

websocket_urlpatterns = [
    path("ws/class/<int:pk>/", ClassConsumer.as_asgi()),
    path("ws/class/<int:pk>/watch/<int:user_id>/", WatchConsumer.as_asgi()),  # shadowing a student
]
