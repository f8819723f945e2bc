from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import signup_limit
from accounts.forms import SignupForm
from accounts.roles import Role, grant
from sandbox.client_address import client_address
from sandbox.too_many import try_again_text, with_retry_after


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("lessons:list")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        address = client_address(request)
        with transaction.atomic():
            wait = signup_limit.seconds_to_wait(address)
            if not wait:
                user = form.save()
                # Everyone who signs up is a student; instructors and admins are granted by an admin.
                grant(user, Role.STUDENT)
                signup_limit.record(address)
        if wait:
            limited = _("Too many accounts were created from your network recently.") + " " + try_again_text(wait)
            response = render(request, "accounts/signup.html", {"form": form, "limited": limited})
            return with_retry_after(response, wait)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("lessons:list")
    return render(request, "accounts/signup.html", {"form": form})
