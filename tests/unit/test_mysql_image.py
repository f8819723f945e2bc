"""The mysql:5.7 stand-in image (MariaDB from Debian's packages), run for real: its layer is
unpacked and its entrypoint started in a chroot on this host, the server on a loopback port.

Needs root (chroot, a /dev/null node) and Debian's mariadb-server-core, mariadb-client-core and
busybox-static (docker/system-deps.sh installs them for `make test` and the real node); skipped,
with the reason, without."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.cluster import images
from tests.processes import answers_on, free_port

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0
    or not images.BUSYBOX.is_file()
    or not all(path.exists() for path in (*images.MARIADB_PROGRAMS, images.MARIADB_SHARE)),
    reason="needs root, busybox-static, mariadb-server-core and mariadb-client-core",
)
LOOPBACK = ("--bind-address=127.0.0.1",)  # appended to the server's flags: the test stays on this host
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The image's files, unpacked from the archive the node would import."""
    folder = tmp_path_factory.mktemp("mysql")
    out = images.archive(images.MYSQL, folder / "cache")
    root = folder / "rootfs"
    with tarfile.open(out) as archive:
        index = json.load(archive.extractfile("index.json"))  # type: ignore[arg-type]  # a member that exists
        (entry,) = index["manifests"]
        assert entry["annotations"]["io.containerd.image.name"] == "docker.io/library/mysql:5.7"
        manifest = json.load(archive.extractfile(f"blobs/sha256/{entry['digest'][7:]}"))  # type: ignore[arg-type]  # a member that exists
        config = json.load(archive.extractfile(f"blobs/sha256/{manifest['config']['digest'][7:]}"))  # type: ignore[arg-type]  # a member that exists
        assert config["config"]["Entrypoint"] == ["/usr/local/bin/docker-entrypoint.sh"]
        assert config["config"]["Cmd"] == ["mysqld"]
        assert config["config"]["ExposedPorts"] == {"3306/tcp": {}}
        (layer,) = manifest["layers"]
        with tarfile.open(fileobj=archive.extractfile(f"blobs/sha256/{layer['digest'][7:]}")) as files:
            files.extractall(root, filter="tar")
    # What the container runtime would provide.
    (root / "dev").mkdir()
    os.mknod(root / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    return root


def _start(root: Path, log: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(
            ["chroot", str(root), "/usr/local/bin/docker-entrypoint.sh", "mysqld", f"--port={port}", *LOOPBACK],
            env={"PATH": PATH, **env},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def server(rootfs: Path, tmp_path: Path) -> Iterator[int]:
    port = free_port()
    process = _start(
        rootfs, tmp_path / "mysql.log", port, MYSQL_ROOT_PASSWORD="it's-secret", MYSQL_DATABASE="petclinic"
    )
    try:
        assert answers_on(process, port), (tmp_path / "mysql.log").read_text()
        yield port
    finally:
        process.terminate()
        process.wait(timeout=60)
        subprocess.run(["rm", "-rf", str(rootfs / "var" / "lib" / "mysql")], check=True)


def _client(port: int, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{port}", "-uroot", "--batch", "--skip-column-names"]
    return subprocess.run([*command, *args], capture_output=True, text=True)


def test_it_serves_the_database_named_by_mysql_database_to_root_with_its_password(server: int) -> None:
    answer = _client(server, "-pit's-secret", "-e", "SHOW DATABASES")

    assert answer.returncode == 0, answer.stderr
    assert "petclinic" in answer.stdout.split()


def test_it_refuses_root_without_the_password(server: int) -> None:
    for password in ([], ["-pwrong"]):
        answer = _client(server, *password, "-e", "SELECT 1")
        assert answer.returncode == 1
        assert "Access denied for user 'root'" in answer.stderr


def test_its_own_mysql_client_works_inside_the_image(server: int, rootfs: Path) -> None:
    inside = subprocess.run(
        [
            "chroot",
            str(rootfs),
            "mysql",
            "-uroot",
            "-pit's-secret",
            "--batch",
            "-e",
            "SHOW DATABASES",
        ],
        env={"PATH": PATH},
        capture_output=True,
        text=True,
    )

    assert inside.returncode == 0, inside.stderr
    assert "petclinic" in inside.stdout.split()


def test_it_refuses_to_start_without_a_root_password(rootfs: Path, tmp_path: Path) -> None:
    log = tmp_path / "mysql.log"
    process = _start(rootfs, log, free_port(), MYSQL_DATABASE="petclinic")

    assert process.wait(timeout=60) == 1
    assert "password option is not specified" in log.read_text()


def test_petclinic_lists_its_owners_from_this_server_as_in_the_article(server: int, tmp_path: Path) -> None:
    # Lesson 08's pair: PetClinic with the mysql profile, root and MYSQL_ROOT_PASSWORD, schema
    # created at start (DATASOURCE_INIT_MODE=always) in the database MYSQL_DATABASE created.
    program, web = tmp_path / "petclinic", free_port()
    images._go_build("petclinic", program)
    env = {
        "SPRING_PROFILES_ACTIVE": "mysql",
        "DATASOURCE_URL": f"jdbc:mysql://127.0.0.1:{server}/petclinic?useUnicode=true",
        "DATASOURCE_USERNAME": "root",
        "DATASOURCE_PASSWORD": "it's-secret",
        "DATASOURCE_INIT_MODE": "always",
        "SERVER_ADDRESS": "127.0.0.1",
        "SERVER_PORT": str(web),
    }
    app = subprocess.Popen([str(program)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert answers_on(app, web)
        with urllib.request.urlopen(f"http://127.0.0.1:{web}/owners", timeout=10) as answer:
            page = answer.read().decode()
    finally:
        app.terminate()
        app.wait(timeout=10)

    assert "George Franklin" in page
    assert _client(server, "-pit's-secret", "-e", "SELECT COUNT(*) FROM petclinic.owners").stdout.split() == ["10"]
