"""The author's preview (/lessons/preview/): instructors and admins only; a lesson rendered from
its folder, its problems shown in the page instead of an error; the fingerprint the page polls
changes when a file is saved. And the validator's parity of the two languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from lessons import format, scaffold
from tests.unit.test_lesson_format import make

pytestmark = pytest.mark.django_db

PAGE = "/lessons/preview/01-demo/"
FINGERPRINT = "/lessons/preview/01-demo/fingerprint"


@pytest.fixture
def folder(tmp_path: Path, settings: Any) -> Path:
    settings.LESSONS_DIR = tmp_path
    return make(
        tmp_path,
        files={"steps/first.en.md": "In {{ namespace }}:\n\n```run\nkubectl get pods\n```\n\n<script>x()</script>\n"},
    )


def test_it_is_for_instructors_and_admins_only(
    client: Client, folder: Path, student: User, instructor: User, admin_user: User
) -> None:
    for url in ("/lessons/preview/", PAGE, FINGERPRINT):
        anonymous = client.get(url)
        assert anonymous.status_code == 302
        assert "/accounts/login/" in anonymous["Location"]
    client.force_login(student)
    for url in ("/lessons/preview/", PAGE, FINGERPRINT):
        refused = client.get(url)
        assert refused.status_code == 404
        # Nothing of the lesson (the 404 page only repeats the address that was asked for).
        assert b"kubectl" not in refused.content
        assert b"Demo" not in refused.content
    for author in (instructor, admin_user):
        client.force_login(author)
        assert client.get(PAGE).status_code == 200
        assert "01-demo" in client.get("/lessons/preview/").content.decode()


def test_a_valid_lesson_renders_from_its_folder_in_either_language(
    client: Client, folder: Path, instructor: User
) -> None:
    client.force_login(instructor)
    page = client.get(PAGE).content.decode()
    assert 'id="preview-valid"' in page
    assert 'id="preview-problems"' not in page
    assert 'data-step="first"' in page
    assert 'data-run="kubectl get pods"' in page
    assert "In sb-sample:" in page  # placeholders get sample values
    assert "<script>x()" not in page  # raw HTML in Markdown is text
    assert "kubectl apply -f web.yaml" in page  # the solution
    assert "Demo" in page
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get(PAGE).content.decode()  # the text follows the page's language
    assert "没有发现问题" in chinese  # "Valid: no problems found."
    assert "演示" in chinese
    assert "运行" in chinese
    # An unknown language falls back to English rather than failing.
    assert "Demo" in client.get(PAGE + "?lang=xx").content.decode()
    assert client.get("/lessons/preview/02-nothing/").status_code == 404
    assert client.get("/lessons/preview/..%2F..%2Fetc/").status_code == 404


def test_a_broken_lesson_shows_its_problems_not_an_error(client: Client, folder: Path, instructor: User) -> None:
    client.force_login(instructor)
    (folder / "lesson.yaml").write_text((folder / "lesson.yaml").read_text().replace("minutes: 5", "minutes: [5"))
    response = client.get(PAGE)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="preview-problems"' in page
    assert "lesson.yaml:" in page
    assert "not valid YAML" in page
    # A step text that is not UTF-8 is not something the validator words itself: still a page.
    make_valid = (folder / "lesson.yaml").read_text().replace("minutes: [5", "minutes: 5")
    (folder / "lesson.yaml").write_text(make_valid)
    (folder / "steps" / "first.zh-hans.md").write_bytes(b"\xff\xfe broken")
    response = client.get(PAGE)
    assert response.status_code == 200
    assert 'id="preview-problems"' in response.content.decode()


def test_the_reload_signal_changes_when_a_file_is_saved(client: Client, folder: Path, admin_user: User) -> None:
    client.force_login(admin_user)
    first = client.get(FINGERPRINT).json()["fingerprint"]
    assert first
    assert client.get(FINGERPRINT).json()["fingerprint"] == first
    page = client.get(PAGE).content.decode()
    assert f'data-fingerprint="{first}"' in page
    assert 'data-fingerprint-url="/lessons/preview/01-demo/fingerprint"' in page
    (folder / "steps" / "first.en.md").write_text("Changed.\n\n```run\nkubectl get pods\n```\n")
    second = client.get(FINGERPRINT).json()["fingerprint"]
    assert second != first
    (folder / "manifests" / "extra.yaml").write_text("kind: ConfigMap\n")  # a new file counts too
    assert client.get(FINGERPRINT).json()["fingerprint"] not in (first, second)


def test_a_new_lesson_cannot_take_the_preview_address(tmp_path: Path) -> None:
    with pytest.raises(scaffold.ScaffoldError, match="page of its own"):
        scaffold.create(tmp_path, "preview")


def test_a_step_text_in_one_language_only_is_refused(tmp_path: Path) -> None:
    folder = scaffold.create(tmp_path, "parity")
    # A step renamed in one language: the other language's text names no step.
    (folder / "steps" / "first.zh-hans.md").rename(folder / "steps" / "second.zh-hans.md")
    messages = [str(p) for p in _problems(folder)]
    assert any("missing steps/first.zh-hans.md" in m for m in messages)
    assert any("steps/second.zh-hans.md belongs to no step: there is no step 'second'" in m for m in messages)
    (folder / "steps" / "second.zh-hans.md").rename(folder / "steps" / "first.zh-hans.md")
    (folder / "steps" / "first.fr.md").write_text("Bonjour\n")
    messages = [str(p) for p in _problems(folder)]
    assert messages == [f"{folder}/steps/first.fr.md:1: steps/first.fr.md belongs to no step: "
                        "the languages are en, zh-hans (steps/first.<language>.md)"]  # fmt: skip


def test_checks_hints_and_messages_are_given_once_for_both_languages(tmp_path: Path) -> None:
    """Checks live in lesson.yaml, shared by both languages (so they have the same checks, in the
    same order, by construction); every text around them must be given in both languages."""
    folder = scaffold.create(tmp_path, "parity")
    meta = folder / "lesson.yaml"
    original = meta.read_text()
    meta.write_text(
        original.replace(
            "      - exists: {kind: ConfigMap, name: greeting}",
            "      - exists: {kind: ConfigMap, name: greeting}\n        message: {en: No greeting yet}",
        )
    )
    assert any("'zh-hans' is a required property" in str(p) for p in _problems(folder))
    meta.write_text(original.replace('        zh-hans: "`kubectl apply', '        fr: "`kubectl apply'))
    assert any("steps.0.hints.0" in str(p) for p in _problems(folder))


def _problems(folder: Path) -> list[format.Problem]:
    with pytest.raises(format.LessonError) as caught:
        format.load(folder)
    return caught.value.problems
