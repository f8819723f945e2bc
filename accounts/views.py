from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from accounts.forms import SignupForm
from accounts.roles import Role, grant


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("lessons:list")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            # Everyone who signs up is a student; instructors and admins are granted by an admin.
            grant(user, Role.STUDENT)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("lessons:list")
    return render(request, "accounts/signup.html", {"form": form})
