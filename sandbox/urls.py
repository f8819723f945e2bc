from django.urls import include, path

from sandbox import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("sandbox/status", views.sandbox_status, name="sandbox-status"),
    path("sandbox/start", views.sandbox_start, name="sandbox-start"),
    path("sandbox/reset", views.sandbox_reset, name="sandbox-reset"),
    path("sandbox/queue/leave", views.sandbox_leave_queue, name="sandbox-leave-queue"),
    path("sandbox/", include("sandbox.terminal.urls")),
]
