from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url, env_bool, env_int, env_list, env_secret, env_str


def test_it_reads_booleans_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG") is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be one of"):
        env_bool("FLAG")


def test_it_uses_the_default_for_unset_or_empty_strings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NAME", raising=False)
    assert env_str("NAME", "fallback") == "fallback"
    monkeypatch.setenv("NAME", "")
    assert env_str("NAME", "fallback") == "fallback"
    monkeypatch.setenv("NAME", "given")
    assert env_str("NAME", "fallback") == "given"


def test_it_rejects_integers_that_are_not_or_are_too_small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COUNT", "ten")
    with pytest.raises(ImproperlyConfigured, match="COUNT must be an integer"):
        env_int("COUNT", 1)
    monkeypatch.setenv("COUNT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("COUNT", 5, minimum=1)
    monkeypatch.setenv("COUNT", "7")
    assert env_int("COUNT", 5, minimum=1) == 7


def test_it_splits_lists_and_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTS", " a.example, ,b.example ")
    assert env_list("HOSTS") == ["a.example", "b.example"]


def test_it_reads_secrets_from_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("API_KEY_FILE", str(secret))
    assert env_secret("API_KEY") == "s3cret"
    monkeypatch.setenv("API_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="API_KEY_FILE"):
        env_secret("API_KEY")


def test_it_parses_database_urls(tmp_path: Path) -> None:
    sqlite = database_from_url("sqlite:///db.sqlite3", base_dir=tmp_path)
    assert (sqlite["ENGINE"], sqlite["NAME"]) == ("django.db.backends.sqlite3", str(tmp_path / "db.sqlite3"))
    assert sqlite["OPTIONS"] == {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    pg = database_from_url("postgres://me:p%40ss@db.internal:5433/sandbox", base_dir=tmp_path)
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"], pg["NAME"]) == (
        "me",
        "p@ss",
        "db.internal",
        "5433",
        "sandbox",
    )
    with pytest.raises(ImproperlyConfigured, match="scheme must be sqlite or postgres"):
        database_from_url("mysql://x/y", base_dir=tmp_path)
    with pytest.raises(ImproperlyConfigured, match="database name"):
        database_from_url("postgres://host/", base_dir=tmp_path)
