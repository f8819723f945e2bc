"""The PetClinic stand-in image: its program run for real on this host (loopback only), and the
OCI archive the local node imports, read back as data.

The program is built with the same code that builds the image (sandbox/cluster/images.py). The
database case runs a real MariaDB server from Debian's packages when they are installed
(docker/system-deps.sh installs it for the real node)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tarfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sandbox.cluster import images
from tests.processes import answers_on, free_port

MARIADBD = Path("/usr/sbin/mariadbd")


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("petclinic") / "petclinic"
    images._go_build("petclinic", out)
    return out


@dataclass
class Running:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def output(self) -> str:
        return self.log.read_text()


Start = Callable[..., Running]  # runs the program with extra environment variables


@pytest.fixture
def start(program: Path, tmp_path: Path) -> Iterator[Start]:
    started: list[Running] = []

    def run(**env: str) -> Running:
        port = free_port()
        log = tmp_path / f"petclinic-{port}.log"
        environment = {"PATH": os.environ["PATH"], "SERVER_ADDRESS": "127.0.0.1", "SERVER_PORT": str(port), **env}
        with log.open("wb") as sink:
            process = subprocess.Popen([str(program)], env=environment, stdout=sink, stderr=subprocess.STDOUT)
        running = Running(process, port, log)
        started.append(running)
        if not answers_on(process, port):
            process.wait(timeout=30)
        return running

    yield run
    for running in started:
        if running.process.poll() is None:
            running.process.terminate()
            running.process.wait(timeout=10)


def test_it_shows_each_version_unmistakably(start: Start) -> None:
    blue = start(PETCLINIC_VERSION="1.0.0.RELEASE", HOSTNAME="petclinic-blue")
    green = start(PETCLINIC_VERSION="1.0.1.RELEASE")

    _, blue_page = blue.get("/")
    _, green_page = green.get("/")

    assert "Spring PetClinic 1.0.0.RELEASE" in blue_page
    assert "BLUE edition" in blue_page
    assert "Spring PetClinic 1.0.1.RELEASE" in green_page
    assert "GREEN edition" in green_page
    assert "1.0.1" not in blue_page
    assert "1.0.0" not in green_page
    assert f'id="pod">{socket.gethostname()}<' in blue_page
    assert "Starting PetClinicApplication v1.0.0.RELEASE" in blue.output()
    assert "Starting PetClinicApplication v1.0.1.RELEASE" in green.output()


def test_it_lists_the_sample_owners_without_the_mysql_profile(start: Start) -> None:
    app = start()

    status, page = app.get("/owners")

    assert status == 200
    assert "George Franklin" in page
    assert "Leo (cat)" in page
    assert "Carlos Estaban" in page
    assert app.get("/actuator/health") == (200, '{"status":"UP"}\n')
    log = app.output()
    assert "No active profile set, falling back to default profiles: default" in log
    assert "Tomcat started on port(s): " in log
    assert "Started PetClinicApplication in " in log


def test_it_fails_like_spring_boot_when_the_database_name_does_not_resolve(start: Start) -> None:
    # .invalid never resolves (RFC 6761), as `mysql` does not outside the database's namespace.
    app = start(
        SPRING_PROFILES_ACTIVE="mysql",
        DATASOURCE_URL="jdbc:mysql://mysql.invalid/petclinic",  # the article's form: no port
        DATASOURCE_USERNAME="root",
        DATASOURCE_PASSWORD="petclinic",
    )

    assert app.process.wait(timeout=30) == 1
    log = app.output()
    assert "The following profiles are active: mysql" in log
    assert "HikariPool-1 - Exception during pool initialization." in log
    assert "CommunicationsException: Communications link failure" in log
    assert "Caused by: java.net.UnknownHostException: mysql.invalid" in log
    assert log.rstrip().endswith("Application run failed")
    assert "Tomcat started" not in log


def test_it_answers_printenv_like_coreutils(program: Path, tmp_path: Path) -> None:
    printenv = tmp_path / "printenv"
    printenv.symlink_to(program)
    env = {"GREETING": "hello", "EMPTY": ""}

    one = subprocess.run([str(printenv), "GREETING"], env=env, capture_output=True, text=True)
    missing = subprocess.run([str(printenv), "GREETING", "NOPE"], env=env, capture_output=True, text=True)
    every = subprocess.run([str(printenv)], env=env, capture_output=True, text=True)

    assert (one.returncode, one.stdout) == (0, "hello\n")
    assert (missing.returncode, missing.stdout) == (1, "hello\n")
    assert sorted(every.stdout.splitlines()) == ["EMPTY=", "GREETING=hello"]


@pytest.fixture
def mariadb(tmp_path: Path) -> Iterator[tuple[int, list[str]]]:
    """A real MariaDB server on a free loopback port, with a `petclinic` database and user."""
    if not MARIADBD.is_file():
        pytest.skip("MariaDB is not installed (`make test` installs it: docker/system-deps.sh)")
    data, sock, port = tmp_path / "mariadb", tmp_path / "mariadb.sock", free_port()
    subprocess.run(
        ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root", "--skip-test-db"],
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [
            str(MARIADBD),
            "--no-defaults",
            f"--datadir={data}",
            f"--socket={sock}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=16M",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert answers_on(server, port), "MariaDB did not start"
        client = ["mariadb", "--no-defaults", f"--socket={sock}", "-uroot", "--batch", "-e"]
        subprocess.run(
            [
                *client,
                "CREATE DATABASE petclinic; CREATE USER petclinic@'%' IDENTIFIED BY 's3cret';"
                " GRANT ALL ON petclinic.* TO petclinic@'%';",
            ],
            check=True,
        )
        yield port, client
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_it_lists_the_owners_of_a_real_mysql_database(start: Start, mariadb: tuple[int, list[str]]) -> None:
    port, client = mariadb
    env = {
        "SPRING_PROFILES_ACTIVE": "mysql",
        "DATASOURCE_URL": f"jdbc:mysql://127.0.0.1:{port}/petclinic?useUnicode=true",
        "DATASOURCE_USERNAME": "petclinic",
        "DATASOURCE_PASSWORD": "s3cret",
    }
    first = start(**env, DATASOURCE_INIT_MODE="always")
    assert "George Franklin" in first.get("/")[1]
    first.process.terminate()
    first.process.wait(timeout=10)

    # A row only the database has: the page reads the database, not the built-in samples.
    subprocess.run(
        [*client, "INSERT INTO petclinic.owners VALUES (11, 'Ada', 'Lovelace', '1 St James Sq.', 'London', '0')"],
        check=True,
    )
    second = start(**env)

    status, page = second.get("/")
    assert status == 200
    assert "Ada Lovelace" in page
    assert "George Franklin" in page
    assert "HikariPool-1 - Start completed." in second.output()
    assert "schema.sql" in first.output()
    assert "schema.sql" not in second.output()


def test_it_refuses_a_wrong_database_password_as_connector_j_does(start: Start, mariadb: tuple[int, list[str]]) -> None:
    port, _ = mariadb
    app = start(
        SPRING_PROFILES_ACTIVE="mysql",
        DATASOURCE_URL=f"jdbc:mysql://127.0.0.1:{port}/petclinic",
        DATASOURCE_USERNAME="petclinic",
        DATASOURCE_PASSWORD="wrong",
    )

    assert app.process.wait(timeout=30) == 1
    assert "java.sql.SQLException: Access denied for user 'petclinic'" in app.output()


def _members(archive: tarfile.TarFile, digest: str) -> bytes:
    member = archive.extractfile(f"blobs/sha256/{digest.partition(':')[2]}")
    assert member is not None
    return member.read()


def test_it_builds_both_article_tags_from_one_build(tmp_path: Path) -> None:
    if not images.BUSYBOX.is_file():
        pytest.skip("busybox-static is not installed (`make test` installs it: docker/system-deps.sh)")
    out = images.archive(images.PETCLINIC, tmp_path)
    built = out.stat().st_mtime_ns

    with tarfile.open(out) as archive:
        index = json.loads(archive.extractfile("index.json").read())  # type: ignore[union-attr]  # a member that exists
        by_name = {entry["annotations"]["io.containerd.image.name"]: entry for entry in index["manifests"]}
        configs: dict[str, dict[str, Any]] = {}
        layers: set[str] = set()
        for name, entry in by_name.items():
            manifest = json.loads(_members(archive, entry["digest"]))
            configs[name] = json.loads(_members(archive, manifest["config"]["digest"]))["config"]
            layers.update(layer["digest"] for layer in manifest["layers"])
        (layer_digest,) = layers
        with tarfile.open(fileobj=archive.extractfile(f"blobs/sha256/{layer_digest.partition(':')[2]}")) as layer:
            files = {member.name: member for member in layer.getmembers()}

    assert set(by_name) == {
        "docker.io/spring2go/spring-petclinic:1.0.0.RELEASE",
        "docker.io/spring2go/spring-petclinic:1.0.1.RELEASE",
    }
    for version in ("1.0.0.RELEASE", "1.0.1.RELEASE"):
        config = configs[f"docker.io/spring2go/spring-petclinic:{version}"]
        assert f"PETCLINIC_VERSION={version}" in config["Env"]
        assert config["ExposedPorts"] == {"8080/tcp": {}}
        assert config["Entrypoint"] == ["/app/petclinic"]
    assert files["app/petclinic"].isfile()
    assert files["app/petclinic"].mode & 0o111
    assert files["bin/busybox"].isfile()
    assert files["bin/sh"].linkname == "/bin/busybox"
    assert files["usr/bin/nslookup"].linkname == "/bin/busybox"
    assert files["usr/bin/env"].linkname == "/bin/busybox"
    assert files["usr/bin/printenv"].linkname == "/app/petclinic"
    assert images.archive(images.PETCLINIC, tmp_path) == out
    assert out.stat().st_mtime_ns == built


def test_it_substitutes_build_args_into_env() -> None:
    dockerfile = 'FROM scratch\nARG VERSION=1.0.0\nENV V=${VERSION}\nEXPOSE 8080\nENTRYPOINT ["/app"]\n'

    assert images.parse_dockerfile(dockerfile).env == ("V=1.0.0",)
    assert images.parse_dockerfile(dockerfile, {"VERSION": "1.0.1"}).env == ("V=1.0.1",)
    assert images.parse_dockerfile(dockerfile).exposed == ("8080/tcp",)


@pytest.mark.parametrize(
    ("dockerfile", "build_args"),
    [
        ("FROM scratch\nENV V=${VERSION}\n", {}),  # an ARG that was never declared
        ("FROM scratch\nARG VERSION=1\nENV V=$VERSION\n", {}),  # only the ${NAME} form is read
        ("FROM scratch\nARG VERSION=1\n", {"OTHER": "2"}),  # a build arg nothing uses
        ("ARG VERSION=1\nFROM scratch\n", {}),  # ARG before FROM only serves FROM lines
        ("FROM scratch\nEXPOSE http\n", {}),
    ],
)
def test_it_refuses_build_args_it_cannot_apply(dockerfile: str, build_args: dict[str, str]) -> None:
    with pytest.raises(images.ImageBuildError):
        images.parse_dockerfile(dockerfile, build_args)
