"""The embedded SQLite default under concurrent writers: file saves from several processes at
once all succeed (they answered 500, "database is locked", before WAL and BEGIN IMMEDIATE).

Real processes on a real SQLite file: the suite itself runs on PostgreSQL, so this test gives
each process the SQLite URL that `make run` uses by default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SETUP = """
from django.contrib.auth.models import User
from sandbox.models import Sandbox
owner = User.objects.create_user("writer")
Sandbox.objects.create(owner=owner, namespace="sqlite-test", state="ready")
"""

WRITER = """
import sys
from django.db import connection
from sandbox.models import Sandbox
from sandbox.terminal import workspace
sandbox = Sandbox.objects.get(namespace="sqlite-test")
worker = sys.argv[-1]
failures = 0
for i in range(40):
    try:
        # Read-then-write in one transaction, as the editor's save does: the case where a
        # deferred transaction fails at once on its lock upgrade.
        workspace.save(sandbox, f"w{worker}-{i % 5}.yaml", f"kind: ConfigMap # {worker} {i}")
        workspace.save(sandbox, "shared.yaml", f"kind: ConfigMap # {worker} {i}")
    except Exception as exc:
        failures += 1
        print("FAILED", type(exc).__name__, exc, file=sys.stderr)
with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    print(cursor.fetchone()[0], failures)
"""


def manage(url: str, *args: str, **kwargs: object) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url, "DEBUG": "0", "SECRET_KEY": "test-only-secret"}
    proc: subprocess.Popen[str] = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,  # type: ignore[call-overload]
    )
    return proc


def finish(proc: subprocess.Popen[str]) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


@pytest.mark.filterwarnings("ignore")
def test_concurrent_saves_on_the_embedded_sqlite_all_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"  # absolute: sqlite:////tmp/...
    finish(manage(url, "migrate", "-v", "0"))
    finish(manage(url, "shell", "-c", SETUP))
    writers = [manage(url, "shell", "-c", WRITER.replace("sys.argv[-1]", repr(str(n)))) for n in range(4)]
    results = [finish(proc).splitlines()[-1].split() for proc in writers]
    assert results == [["wal", "0"]] * 4
    check = manage(
        url,
        "shell",
        "-c",
        "from sandbox.terminal.models import WorkspaceFile; print(WorkspaceFile.objects.count())",
    )
    assert finish(check).splitlines()[-1] == str(4 * 5 + 1)
