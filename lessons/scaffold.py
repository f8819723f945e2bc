"""`manage.py lessons new SLUG`: a new lesson folder that is valid from the start, in both
languages, with one step an author replaces (its text, checks, solution and undo). The folder is
a copy of lessons/new_lesson/ with its slug, position and title filled in, and it is validated
before the command reports success."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from lessons import format

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,48}$")
# /lessons/<slug>/ would be shadowed by these pages.
RESERVED = {"preview"}
TEMPLATE = Path(__file__).resolve().parent / "new_lesson"


class ScaffoldError(Exception):
    pass


def create(content_dir: Path, slug: str) -> Path:
    """Write the new lesson's folder, NN-slug, after the last lesson; returns it, validated."""
    if not SLUG.match(slug):
        raise ScaffoldError(f"{slug!r} is not a lesson slug: lowercase letters, digits and dashes, 2-49 characters")
    if slug in RESERVED:
        raise ScaffoldError(f"{slug!r} is taken by a page of its own (/lessons/{slug}/); choose another slug")
    existing = format.discover(content_dir)
    if slug in {folder.name.split("-", 1)[-1] for folder in existing}:
        raise ScaffoldError(f"a lesson named {slug} exists already")
    position = len(existing) + 1
    folder = content_dir / f"{position:02d}-{slug}"
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already")
    shutil.copytree(TEMPLATE, folder)
    meta = folder / "lesson.yaml"
    title = slug.replace("-", " ").capitalize()
    text = meta.read_text().replace("SLUG", slug).replace("POSITION", str(position)).replace("TITLE", title)
    meta.write_text(text)
    format.load(folder)  # LessonError if the template itself were wrong
    return folder
