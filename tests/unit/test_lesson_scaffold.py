"""`lessons new` writes a valid bilingual lesson; `lessons validate` holds both languages of a
step to the same commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from lessons import format, scaffold


def test_a_new_lesson_is_valid_and_comes_after_the_last(tmp_path: Path) -> None:
    first = scaffold.create(tmp_path, "health-probes")
    second = scaffold.create(tmp_path, "jobs")
    assert (first.name, second.name) == ("01-health-probes", "02-jobs")
    spec = format.load(second)
    assert (spec.slug, spec.position) == ("jobs", 2)
    assert [step.id for step in spec.steps] == ["first"]
    assert set(spec.steps[0].body) == set(format.LANGUAGES)
    assert "greeting.yaml" in spec.files


def test_a_taken_or_malformed_slug_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    scaffold.create(tmp_path, "jobs")
    for slug, reason in (("jobs", "exists already"), ("Bad Slug", "not a lesson slug"), ("../up", "not a lesson")):
        with pytest.raises(scaffold.ScaffoldError, match=reason):
            scaffold.create(tmp_path, slug)
    assert [p.name for p in tmp_path.iterdir()] == ["01-jobs"]


def test_the_command_writes_the_lesson_where_the_settings_say(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with override_settings(LESSONS_DIR=tmp_path):
        call_command("lessons", "new", "health-probes")
        with pytest.raises(CommandError, match="takes one SLUG"):
            call_command("lessons", "new")
    assert "01-health-probes" in capsys.readouterr().out
    assert (tmp_path / "01-health-probes" / "steps" / "first.zh-hans.md").is_file()


def test_both_languages_of_a_step_must_offer_the_same_commands(tmp_path: Path) -> None:
    folder = scaffold.create(tmp_path, "parity")
    zh = folder / "steps" / "first.zh-hans.md"
    original = zh.read_text()
    # A translated shell comment is prose: allowed.
    zh.write_text(original.replace("kubectl apply -f greeting.yaml\n", "kubectl apply -f greeting.yaml  # 创建\n", 1))
    format.load(folder)
    # A command the other language lacks is not.
    zh.write_text(original.replace("kubectl get configmap greeting -o yaml", "kubectl get cm greeting"))
    with pytest.raises(format.LessonError) as caught:
        format.load(folder)
    message = str(caught.value.problems[0])
    assert "first.zh-hans.md" in message
    assert "the code blocks differ from steps/first.en.md" in message
    assert "kubectl get configmap greeting -o yaml" in message
