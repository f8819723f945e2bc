"""Workspace files through the editor's API: validated before anything is written."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sandbox.models import Sandbox, State
from sandbox.terminal.models import WorkspaceFile
from sandbox.terminal.workspace import MAX_FILE_BYTES

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(student: User) -> Sandbox:
    return Sandbox.objects.create(owner=student, namespace="sbx-files", state=State.READY, node_port=30100)


def put(client: Client, name: str, content: object) -> tuple[int, dict[str, str]]:
    response = client.put(f"/sandbox/files/{name}", json.dumps({"content": content}), content_type="application/json")
    is_json = response.headers.get("Content-Type") == "application/json"
    return response.status_code, response.json() if is_json else {}


def test_it_saves_lists_reads_and_deletes_a_file(client: Client, student: User, sandbox: Sandbox) -> None:
    client.force_login(student)
    assert put(client, "petclinic-pod.yml", "kind: Pod\n")[0] == 200
    assert [f["name"] for f in client.get("/sandbox/files/").json()["files"]] == ["petclinic-pod.yml"]
    assert client.get("/sandbox/files/petclinic-pod.yml").json()["content"] == "kind: Pod\n"
    assert put(client, "petclinic-pod.yml", "kind: Service\n")[0] == 200
    assert WorkspaceFile.objects.get(sandbox=sandbox).content == "kind: Service\n"
    assert client.delete("/sandbox/files/petclinic-pod.yml").status_code == 200
    assert not WorkspaceFile.objects.filter(sandbox=sandbox).exists()


@pytest.mark.parametrize("name", ["..", ".env", "a b.yml", "x" * 65, "dir%2Fx.yml", "-rf", "ø.yml"])
def test_it_refuses_bad_names_and_writes_nothing(client: Client, student: User, sandbox: Sandbox, name: str) -> None:
    client.force_login(student)
    status, body = put(client, name, "x")
    assert status in (400, 404)
    assert not WorkspaceFile.objects.exists()
    if status == 400:
        assert "not a valid file name" in body["error"]


def test_it_refuses_oversized_binary_or_malformed_content(client: Client, student: User, sandbox: Sandbox) -> None:
    client.force_login(student)
    assert put(client, "big.yml", "x" * (MAX_FILE_BYTES + 1))[0] in (400, 413)
    assert "NUL" in put(client, "bin.yml", "a\x00b")[1]["error"]
    assert put(client, "num.yml", 42)[1]["error"] == "content must be text."
    bad = client.put("/sandbox/files/x.yml", "not json", content_type="application/json")
    assert bad.status_code == 400
    assert not WorkspaceFile.objects.exists()


def test_it_keeps_files_private_to_their_sandbox(client: Client, student: User, sandbox: Sandbox) -> None:
    other = User.objects.create_user("mallory")
    theirs = Sandbox.objects.create(owner=other, namespace="sbx-theirs", state=State.READY, node_port=30101)
    WorkspaceFile.objects.create(sandbox=theirs, name="secret.yml", content="password: hunter2")
    client.force_login(student)
    assert client.get("/sandbox/files/secret.yml").status_code == 404
    assert client.get("/sandbox/files/").json()["files"] == []


def test_it_asks_for_a_sandbox_first(client: Client, student: User) -> None:
    client.force_login(student)
    response = client.get("/sandbox/files/a.yml")
    assert response.status_code == 409
    assert "Start your sandbox" in response.json()["error"]


def test_it_shows_the_sandbox_page_with_the_terminal(client: Client, student: User) -> None:
    client.force_login(student)
    page = client.get("/sandbox/").content.decode()
    assert 'id="terminal"' in page
    assert "dist/sandbox-page.js" in page
