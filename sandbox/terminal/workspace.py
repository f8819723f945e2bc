"""Workspace files: validation, storage, and the private copy kubectl works in."""

from __future__ import annotations

from pathlib import Path

from django.db import transaction

from sandbox.models import Sandbox
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


Versions = dict[str, tuple[int, object]]


def versions(sandbox_id: int) -> Versions:
    """Each file's row and when it was last saved, without the contents: what a terminal asks
    before every line, to fetch the contents again only when they changed (every write goes
    through save(), which stamps updated_at; a deleted and re-made file has a new row)."""
    rows = WorkspaceFile.objects.filter(sandbox_id=sandbox_id).values_list("name", "pk", "updated_at")
    return {name: (pk, updated_at) for name, pk, updated_at in rows}


def materialize(contents: dict[str, str], directory: Path, *, ident: Identity) -> None:
    """Make `directory` (ours; the session's user may only read it) hold exactly these files."""
    for entry in directory.iterdir():
        if entry.is_file() or entry.is_symlink():
            entry.unlink()
    for name, content in contents.items():
        write_for_group(directory / validate_name(name), content, ident)
