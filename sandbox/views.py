from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect


def home(request: HttpRequest) -> HttpResponse:
    return redirect("lessons:list" if request.user.is_authenticated else "login")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness only: says the web process answers. Cluster health is `manage.py cluster status`."""
    return JsonResponse({"ok": True})
