"""Each new terminal session gets a copy of the server's warm kubectl cache (the cluster test,
tests/cluster/test_kubectl_cache.py, shows what it saves): a copy owned by the session's user,
with fresh times, and none at all when the server has no cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.test import override_settings

from sandbox.terminal import kubectl_cache, process
from sandbox.terminal.runner import Folder


def a_cache(root: Path) -> Path:
    cache = root / "kubectl-cache"
    group = cache / "discovery" / "127.0.0.1_6443" / "apps" / "v1"
    group.mkdir(parents=True)
    (group / "serverresources.json").write_text('{"kind": "APIResourceList"}')
    (cache / "discovery" / "127.0.0.1_6443" / "servergroups.json").write_text('{"kind": "APIGroupList"}')
    old = time.time() - 7 * 3600  # older than kubectl's 6 hours: a copy must not inherit that
    for path in cache.rglob("*"):
        os.utime(path, (old, old))
    return cache


def test_a_new_session_starts_with_a_copy_of_the_warm_cache_that_its_user_owns(tmp_path: Path) -> None:
    cache = a_cache(tmp_path)
    ident = process.identity()
    with override_settings(TERMINAL_KUBECTL_CACHE=cache):
        folder = Folder.create(ident)
    try:
        copy = folder.home / ".kube" / "cache" / "discovery" / "127.0.0.1_6443"
        assert (copy / "servergroups.json").read_text() == '{"kind": "APIGroupList"}'
        assert (copy / "apps" / "v1" / "serverresources.json").is_file()
        home = folder.home.stat()
        for path in [folder.home / ".kube", *(folder.home / ".kube").rglob("*")]:
            stat = path.lstat()
            assert (stat.st_uid, stat.st_gid) == (home.st_uid, home.st_gid), path
            if path.is_file():  # kubectl's expiry counts from the session (from a file's time)
                assert stat.st_mtime > time.time() - 60, path
        if os.geteuid() == 0:
            assert home.st_uid in process.SESSION_UIDS  # the session's user, not the server
    finally:
        folder.remove()
        process.release(ident)
    assert (cache / "discovery" / "127.0.0.1_6443" / "servergroups.json").is_file()  # the source is untouched


def test_with_no_warm_cache_a_session_starts_cold(tmp_path: Path) -> None:
    ident = process.identity()
    with override_settings(TERMINAL_KUBECTL_CACHE=tmp_path / "missing"):
        folder = Folder.create(ident)
    try:
        assert list(folder.home.iterdir()) == []
    finally:
        folder.remove()
        process.release(ident)


def test_a_failed_build_keeps_the_cache_there_was(tmp_path: Path) -> None:
    cache = a_cache(tmp_path)
    # A kubectl that cannot reach anything: nothing is replaced.
    fails = tmp_path / "kubectl"
    fails.write_text("#!/bin/sh\necho 'the server could not be reached' >&2\nexit 1\n")
    fails.chmod(0o755)
    assert not kubectl_cache.build(fails, tmp_path / "no.kubeconfig", cache)
    assert (cache / "discovery" / "127.0.0.1_6443" / "servergroups.json").is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no scratch left


def test_a_cache_older_than_kubectls_own_expiry_is_not_handed_out(tmp_path: Path) -> None:
    cache = a_cache(tmp_path)
    old = time.time() - kubectl_cache.MAX_AGE_SECONDS - 60
    os.utime(cache, (old, old))
    home = tmp_path / "home"
    home.mkdir()
    with override_settings(TERMINAL_KUBECTL_CACHE=cache):
        assert not kubectl_cache.seed(home, None, None)
    assert list(home.iterdir()) == []


def test_only_regular_files_and_folders_are_copied(tmp_path: Path) -> None:
    cache = a_cache(tmp_path)
    secret = tmp_path / "secret"
    secret.write_text("the server's")
    (cache / "discovery" / "planted").symlink_to(secret)
    home = tmp_path / "home"
    home.mkdir()
    with override_settings(TERMINAL_KUBECTL_CACHE=cache):
        assert kubectl_cache.seed(home, None, None)
    copy = home / ".kube" / "cache" / "discovery"
    assert (copy / "127.0.0.1_6443" / "servergroups.json").is_file()
    assert not (copy / "planted").is_symlink()
    assert not (copy / "planted").exists()


def test_a_cache_others_could_write_to_is_not_handed_out(tmp_path: Path) -> None:
    cache = a_cache(tmp_path)
    os.utime(cache)  # fresh: only its mode stands in the way
    cache.chmod(0o777)
    home = tmp_path / "home"
    home.mkdir()
    with override_settings(TERMINAL_KUBECTL_CACHE=cache):
        assert not kubectl_cache.seed(home, None, None)
        cache.chmod(0o755)
        assert kubectl_cache.seed(home, None, None)


def test_files_that_are_not_the_platform_s_own_are_left_out(tmp_path: Path) -> None:
    cache = a_cache(tmp_path)
    os.utime(cache)
    discovery = cache / "discovery"
    (discovery / "anyone-may-write.json").write_text("{}")
    (discovery / "anyone-may-write.json").chmod(0o666)
    (discovery / "kept.json").write_text("{}")
    if os.geteuid() == 0:  # only root can give a file away; as another user the mode case stands alone
        (discovery / "a-student-s.json").write_text("{}")
        os.chown(discovery / "a-student-s.json", 4_000_123, 4_000_123)
    home = tmp_path / "home"
    home.mkdir()
    with override_settings(TERMINAL_KUBECTL_CACHE=cache):
        assert kubectl_cache.seed(home, None, None)
    copied = {path.name for path in (home / ".kube" / "cache" / "discovery").iterdir()}
    assert "kept.json" in copied
    assert "anyone-may-write.json" not in copied
    assert "a-student-s.json" not in copied
