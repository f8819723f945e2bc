"""Workspace files: validation, storage, and the private copy kubectl works in."""

from __future__ import annotations

from pathlib import Path

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Count, Max

from sandbox.models import OWNED_STATES, Sandbox
from sandbox.names import is_file_name
from sandbox.terminal.errors import Denied
from sandbox.terminal.models import WorkspaceFile
from sandbox.terminal.process import Identity, write_for_group

MAX_FILE_BYTES = 256 * 1024
MAX_FILES = 50


def validate_name(name: str) -> str:
    if not is_file_name(name):
        raise Denied(
            f"{name!r} is not a valid file name: use letters, digits, '.', '-' and '_' (at most 64, no folders)"
        )
    return name


def validate_content(content: str) -> str:
    if "\x00" in content:
        raise Denied("the file contains NUL characters; workspace files are text (YAML, JSON, properties)")
    size = len(content.encode())
    if size > MAX_FILE_BYTES:
        raise Denied(f"the file is too large ({size} bytes; at most {MAX_FILE_BYTES})")
    return content


def save(sandbox: Sandbox, name: str, content: str) -> WorkspaceFile:
    """Create or replace a file. Validation happens before anything is written."""
    validate_name(name)
    validate_content(content)
    with transaction.atomic():
        existing = WorkspaceFile.objects.select_for_update().filter(sandbox=sandbox, name=name).first()
        if existing is None:
            if WorkspaceFile.objects.filter(sandbox=sandbox).count() >= MAX_FILES:
                raise Denied(f"the workspace already has {MAX_FILES} files; delete one first")
            return WorkspaceFile.objects.create(sandbox=sandbox, name=name, content=content)
        existing.content = content
        existing.save(update_fields=["content", "updated_at"])
        return existing


def delete(sandbox: Sandbox, name: str) -> bool:
    deleted, _ = WorkspaceFile.objects.filter(sandbox=sandbox, name=validate_name(name)).delete()
    return bool(deleted)


def files(sandbox: Sandbox) -> dict[str, str]:
    return dict(WorkspaceFile.objects.filter(sandbox=sandbox).values_list("name", "content"))


Version = tuple[int, object]


def version(sandbox_id: int) -> Version:
    """How many files the workspace holds and when the newest was saved: every write goes
    through save(), which stamps updated_at, so any change (a save, a new file, a deletion)
    changes one or the other. What a terminal asks before every line, to fetch the contents
    again only when they changed."""
    found = WorkspaceFile.objects.filter(sandbox_id=sandbox_id).aggregate(count=Count("pk"), newest=Max("updated_at"))
    return found["count"], found["newest"]


def live_sandbox(owner: User) -> Sandbox | None:
    """The owner's live sandbox (as sandbox.lifecycle.live_sandbox), read with its workspace's
    version() (see version_of): a terminal line's one query before it runs. Written out in SQL
    because this runs before every line and the ORM spends longer building the annotated query
    (~0.9 ms, measured) than the database answering it; the table names come from the models."""
    states = ", ".join(["%s"] * len(OWNED_STATES))
    files = WorkspaceFile._meta.db_table
    query = (
        f"SELECT s.*,"  # noqa: S608  (no value is formatted in: table names and placeholders only)
        f" (SELECT COUNT(*) FROM {files} f WHERE f.sandbox_id = s.id) AS files_count,"
        f" (SELECT MAX(f.updated_at) FROM {files} f WHERE f.sandbox_id = s.id) AS files_newest"
        f" FROM {Sandbox._meta.db_table} s WHERE s.owner_id = %s AND s.state IN ({states})"
        " ORDER BY s.id LIMIT 1"
    )
    return next(iter(Sandbox.objects.raw(query, [owner.pk, *OWNED_STATES])), None)


def version_of(sandbox: Sandbox) -> Version | None:
    """The version live_sandbox() read with `sandbox`; None for a sandbox read otherwise."""
    if not hasattr(sandbox, "files_count"):
        return None
    return sandbox.files_count, getattr(sandbox, "files_newest", None)


def materialize(contents: dict[str, str], directory: Path, *, ident: Identity) -> None:
    """Make `directory` (ours; the session's user may only read it) hold exactly these files."""
    for entry in directory.iterdir():
        if entry.is_file() or entry.is_symlink():
            entry.unlink()
    for name, content in contents.items():
        write_for_group(directory / validate_name(name), content, ident)
