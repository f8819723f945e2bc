"""Each live terminal session has a user id of its own (when the server is root): a random one,
never one that a process, another session of this server, or another server's session folder
already holds; an ended session's id is free again."""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import pytest

from sandbox.terminal import process


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The ids the random draw will give, in order (the test appends them)."""
    queue: list[int] = []
    monkeypatch.setattr(secrets, "choice", lambda _: queue.pop(0))
    return queue


def test_two_live_sessions_never_share_an_id(drawn: list[int]) -> None:
    if os.geteuid() != 0:
        assert process.identity() == process.Identity(os.geteuid(), os.getegid())
        return
    uid = process.SESSION_UIDS[0] + 4242
    drawn.extend([uid, uid, uid + 1])
    first = process.identity()
    second = process.identity()  # drew the first's id again, then another
    try:
        assert first.uid == uid
        assert second.uid == uid + 1
    finally:
        process.release(first)
        process.release(second)
    drawn.append(uid)
    again = process.identity()  # the first session ended: its id may be handed out again
    process.release(again)
    assert again.uid == uid


def test_an_id_owning_another_servers_session_folder_is_not_handed_out(drawn: list[int]) -> None:
    if os.geteuid() != 0:
        return  # ids are switched only as root (the test above covers the other case)
    uid = process.SESSION_UIDS[0] + 4343
    folder = Path(tempfile.mkdtemp(prefix=f"{process.SESSION_PREFIX}1.1-"))
    try:
        (folder / "home").mkdir()
        os.chown(folder / "home", uid, uid)
        drawn.extend([uid, uid + 1])
        ident = process.identity()
        process.release(ident)
        assert ident.uid == uid + 1
    finally:
        os.chown(folder / "home", 0, 0)
        (folder / "home").rmdir()
        folder.rmdir()
