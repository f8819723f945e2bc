"""`manage.py sandbox ...` and the admin's actions, on the real cluster."""

from __future__ import annotations

import io

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client, override_settings

from sandbox.models import Sandbox, State
from tests.cluster.conftest import Kubectl, run_kubectl

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("sandbox", *args, stdout=out)
    return out.getvalue()


@override_settings(SANDBOX_POOL_SIZE=0)
def test_it_manages_a_students_sandbox_from_the_command_line(student: User, tmp_path: object, kubectl: Kubectl) -> None:
    namespace = run("up", "alice").strip()
    assert namespace.startswith(settings.SANDBOX_NAMESPACE_PREFIX)
    assert namespace in run("list", "alice")

    config = run("kubeconfig", "alice")
    assert yaml.safe_load(config)["contexts"][0]["context"]["namespace"] == namespace
    path = f"{tmp_path}/kc"
    with open(path, "w") as handle:
        handle.write(config)
    run_kubectl(path, "create", "configmap", "cfg", "--from-literal=a=b", check=True)

    assert "reset" in run("reset", "alice")
    assert kubectl("get", "configmaps", "-n", namespace, "-o", "name").stdout.strip() in (
        "",
        "configmap/kube-root-ca.crt",
    )

    assert "deleted" in run("down", "alice")
    assert Sandbox.objects.get(namespace=namespace).state == State.DELETED


def test_it_explains_what_is_wrong_on_the_command_line(student: User) -> None:
    with pytest.raises(CommandError, match="no user named"):
        run("up", "nobody-by-that-name")
    with pytest.raises(CommandError, match="has no live sandbox"):
        run("kubeconfig", "alice")
    with pytest.raises(CommandError, match="needs a USER"):
        run("up")


@override_settings(SANDBOX_POOL_SIZE=0)
def test_it_lets_admins_reset_extend_and_delete(client: Client, admin_user: User, student: User) -> None:
    namespace = run("up", "alice").strip()
    sandbox = Sandbox.objects.get(namespace=namespace)
    before = sandbox.expires_at
    assert before is not None
    client.force_login(admin_user)
    url = "/admin/sandbox/sandbox/"

    client.post(url, {"action": "extend_sandboxes", "_selected_action": [sandbox.pk]})
    sandbox.refresh_from_db()
    assert sandbox.expires_at is not None
    assert sandbox.expires_at > before

    client.post(url, {"action": "reset_sandboxes", "_selected_action": [sandbox.pk]})
    assert Sandbox.objects.get(pk=sandbox.pk).state == State.READY

    response = client.post(url, {"action": "delete_sandboxes", "_selected_action": [sandbox.pk]}, follow=True)
    assert "being deleted" in response.content.decode()
    assert Sandbox.objects.get(pk=sandbox.pk).state == State.DELETED
