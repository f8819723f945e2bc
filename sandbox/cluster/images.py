"""Container images for the local real node, built with no registry and no Docker.

Each image is a Dockerfile in docker/images/<name>/ (so kind's users can `docker build` the same
files). Here an image is written directly as an OCI image archive: this module reads the
Dockerfile's small subset that `FROM scratch` images need (ARG, COPY from the build context,
USER, ENV, EXPOSE, ENTRYPOINT, CMD) into one layer, deterministically (sorted entries, zero
timestamps), and the node's containerd imports the archive. Several tags can come from one build
context with different build args (ARG): they share the layer and differ in their config. An
archive is kept in the build cache under a digest of everything it is made of, so it is rebuilt
only when an input changes.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

IMAGES_DIR = Path(__file__).resolve().parents[2] / "docker" / "images"
# Bump when the archive layout written below changes, so cached archives are rebuilt.
FORMAT = "2"


class ImageBuildError(RuntimeError):
    pass


@dataclass(frozen=True)
class Dockerfile:
    copies: tuple[tuple[str, str], ...]
    env: tuple[str, ...]
    user: str
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    exposed: tuple[str, ...] = ()


_ARG = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def parse_dockerfile(text: str, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """The subset of a Dockerfile that a FROM scratch image of local files needs; anything else
    is refused with its line number (a silently ignored instruction would build another image).
    `build_args` are `--build-arg` values: they override an ARG's default, and ENV values may use
    a declared ARG as ${NAME}."""
    build_args = build_args or {}
    args: dict[str, str] = {}
    copies: list[tuple[str, str]] = []
    env: list[str] = []
    exposed: list[str] = []
    user = ""
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    seen_from = False
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word, rest = word.upper(), rest.strip()
        if word == "FROM" and rest == "scratch" and not seen_from:
            seen_from = True
        elif not seen_from:
            raise ImageBuildError(f"line {number}: the first instruction must be FROM scratch")
        elif word == "COPY" and len(rest.split()) == 2 and not rest.startswith("-"):
            source, target = rest.split()
            copies.append((source, target))
        elif word == "ARG" and _ARG.fullmatch(rest.partition("=")[0]):
            arg, _, default = rest.partition("=")
            args[arg] = build_args.get(arg, default)
        elif word == "ENV" and "=" in rest and " " not in rest:
            undeclared = [name for name in _REFERENCE.findall(rest) if name not in args]
            if undeclared or "$" in _REFERENCE.sub("", rest):
                raise ImageBuildError(f"line {number}: only ${{NAME}} of an ARG declared above may be used: {line}")
            env.append(_REFERENCE.sub(lambda match: args[match.group(1)], rest))
        elif word == "EXPOSE" and re.fullmatch(r"[0-9]{1,5}(/tcp|/udp)?", rest):
            exposed.append(rest if "/" in rest else f"{rest}/tcp")
        elif word == "USER" and rest:
            user = rest
        elif word in {"ENTRYPOINT", "CMD"} and rest.startswith("["):
            value = json.loads(rest)
            if not isinstance(value, list) or not all(isinstance(part, str) for part in value):
                raise ImageBuildError(f"line {number}: {word} must be a JSON list of strings")
            if word == "ENTRYPOINT":
                entrypoint = tuple(value)
            else:
                cmd = tuple(value)
        else:
            raise ImageBuildError(f"line {number}: not understood by the local image builder: {line}")
    if not seen_from:
        raise ImageBuildError("no FROM scratch line")
    unknown = sorted(set(build_args) - set(args))
    if unknown:
        raise ImageBuildError(f"build args with no ARG line: {', '.join(unknown)}")
    return Dockerfile(tuple(copies), tuple(env), user, entrypoint, cmd, tuple(exposed))


def _add(layer: tarfile.TarFile, path: Path, name: str) -> None:
    """One file, symlink or folder, owned by root with a zero timestamp (reproducible digests)."""
    info = layer.gettarinfo(str(path), arcname=name)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    if info.isfile():
        with path.open("rb") as data:
            layer.addfile(info, data)
    else:
        layer.addfile(info)


def _layer(context: Path, spec: Dockerfile) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as layer:
        added: set[str] = set()

        def folder(name: str) -> None:
            parts = name.split("/")
            for depth in range(1, len(parts) + 1):
                prefix = "/".join(parts[:depth])
                if prefix and prefix not in added:
                    info = tarfile.TarInfo(prefix)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    layer.addfile(info)
                    added.add(prefix)

        for source, target in spec.copies:
            origin = (context / source).resolve()
            if not origin.is_relative_to(context.resolve()) or not os.path.lexists(origin):
                raise ImageBuildError(f"COPY {source}: not in the build context {context}")
            dest = target.strip("/")
            if origin.is_dir():
                folder(dest)
                for path in sorted(origin.rglob("*")):
                    name = "/".join(filter(None, [dest, path.relative_to(origin).as_posix()]))
                    if name not in added:
                        folder(name.rpartition("/")[0])
                        _add(layer, path, name)
                        added.add(name)
            else:
                name = f"{dest}/{origin.name}" if target.endswith("/") else dest
                folder(name.rpartition("/")[0])
                _add(layer, origin, name)
                added.add(name)
    return buffer.getvalue()


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


Variant = tuple[str, tuple[tuple[str, str], ...]]  # another name for the image, and its build args


def write_oci_archive(context: Path, dockerfile: str, name: str, out: Path, variants: tuple[Variant, ...] = ()) -> None:
    """An OCI image layout tar named `name` (the Dockerfile's default build args) and each of
    `variants`, for `ctr images import`: one layer from the build context, one config each."""
    spec = parse_dockerfile(dockerfile)
    layer = _layer(context, spec)
    layer_digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    blobs: dict[str, bytes] = {layer_digest: layer}

    def blob(data: bytes) -> tuple[str, int]:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return digest, len(data)

    manifests = []
    for tag, build_args in ((name, ()), *variants):
        tagged = parse_dockerfile(dockerfile, dict(build_args))
        if tagged.copies != spec.copies:
            raise ImageBuildError(f"{tag}: build args may not change what is copied")
        config: dict[str, object] = {
            "architecture": _arch(),
            "os": "linux",
            "config": {
                key: value
                for key, value in {
                    "Env": list(tagged.env),
                    "User": tagged.user,
                    "ExposedPorts": {port: {} for port in tagged.exposed},
                    "Entrypoint": list(tagged.entrypoint),
                    "Cmd": list(tagged.cmd),
                }.items()
                if value
            },
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        }
        config_digest, config_size = blob(json.dumps(config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config_size,
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer)}
            ],
        }
        manifest_digest, manifest_size = blob(json.dumps(manifest, sort_keys=True).encode())
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": manifest_size,
                "annotations": {
                    "io.containerd.image.name": tag,
                    "org.opencontainers.image.ref.name": tag.rpartition(":")[2],
                },
            }
        )
    index = {"schemaVersion": 2, "manifests": manifests}
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index, sort_keys=True).encode(),
        **{f"blobs/sha256/{digest.partition(':')[2]}": data for digest, data in blobs.items()},
    }
    tmp = out.with_suffix(".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tmp, "w") as archive:
        for folder in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mode = len(data), 0o644
            archive.addfile(info, io.BytesIO(data))
    tmp.replace(out)


# --- the images -----------------------------------------------------------------------------
def _hash_files(digest: hashlib._Hash, *paths: Path) -> None:
    for path in paths:
        digest.update(str(path).encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<missing>")


def _go_build(folder: str, out: Path) -> None:
    """A static build of docker/images/<folder>'s Go program (its own module; dependencies come
    from the Go module proxy, or the module cache once fetched)."""
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": "-trimpath"}
    build = subprocess.run(
        ["go", "build", "-ldflags=-s -w", "-o", str(out), "."],
        cwd=IMAGES_DIR / folder,
        env=env,
        capture_output=True,
        text=True,
    )
    if build.returncode != 0:
        raise ImageBuildError(f"building the {folder} program failed:\n{build.stderr}")


def _go_inputs(folder: str) -> Callable[[hashlib._Hash], None]:
    def inputs(digest: hashlib._Hash) -> None:
        _hash_files(digest, *sorted((IMAGES_DIR / folder).iterdir()))
        version = subprocess.run(["go", "env", "GOVERSION"], capture_output=True, text=True, check=True).stdout
        digest.update(version.encode())

    return inputs


def _prepare_pause(context: Path) -> None:
    _go_build("pause", context / "pause")


BUSYBOX = Path("/bin/busybox")


def _busybox_rootfs(root: Path) -> None:
    """Debian's static busybox with one link per applet, /tmp and the users a shell expects."""
    if not BUSYBOX.is_file():
        raise ImageBuildError("/bin/busybox is missing: install Debian's busybox-static (docker/system-deps.sh)")
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True).stdout
    for applet in applets.split():
        link = root / applet
        if applet != "bin/busybox" and not os.path.lexists(link):
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to("/bin/busybox")
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    (root / "etc" / "group").write_text("root:x:0:\nnobody:x:65534:\n")


def _prepare_busybox(context: Path) -> None:
    _busybox_rootfs(context / "rootfs")


def _busybox_inputs(digest: hashlib._Hash) -> None:
    _hash_files(digest, BUSYBOX, IMAGES_DIR / "busybox" / "Dockerfile")


def _coredns_binary() -> Path:
    from sandbox.cluster.tools import localcluster_bin

    return localcluster_bin() / "coredns"


def _prepare_coredns(context: Path) -> None:
    if not _coredns_binary().is_file():
        raise ImageBuildError("coredns is not built: bash docker/localcluster/build.sh --node builds it")
    shutil.copy2(_coredns_binary(), context / "coredns")


def _coredns_inputs(digest: hashlib._Hash) -> None:
    _hash_files(digest, _coredns_binary(), IMAGES_DIR / "coredns" / "Dockerfile")


def coredns_image() -> str:
    from sandbox.cluster.tools import pinned_versions

    return f"registry.k8s.io/coredns/coredns:{pinned_versions()['COREDNS_VERSION']}"


def _prepare_petclinic(context: Path) -> None:
    root = context / "rootfs"
    _busybox_rootfs(root)
    # busybox has no printenv applet; the program answers to that name (the article runs it).
    (root / "usr" / "bin" / "printenv").symlink_to("/app/petclinic")
    _go_build("petclinic", context / "petclinic")


def _petclinic_inputs(digest: hashlib._Hash) -> None:
    _go_inputs("petclinic")(digest)
    _hash_files(digest, BUSYBOX)


# MariaDB from Debian's mariadb-server-core and mariadb-client-core, as installed on this machine:
# the programs the entrypoint runs, the shared libraries they load, and the server's data files.
MARIADB_PROGRAMS = (
    Path("/usr/sbin/mariadbd"),
    Path("/usr/bin/mariadb-install-db"),
    Path("/usr/bin/my_print_defaults"),
    Path("/usr/bin/resolveip"),
    Path("/usr/bin/mariadb"),
    # Not MariaDB's: the C library's name lookup tool (libc-bin), which mysql:5.7 also carries,
    # so that a lesson can ask from inside the Pod what a Service name resolves to.
    Path("/usr/bin/getent"),
)
MARIADB_SHARE = Path("/usr/share/mysql")


def _libraries(programs: list[Path]) -> set[Path]:
    """The shared libraries the programs load (and the loader), as ldd names them: one ldd for
    them all, which lists each program's under a line of its own name."""
    elf = [str(program) for program in programs if program.read_bytes()[:4] == b"\x7fELF"]
    if not elf:
        return set()  # mariadb-install-db is a shell script
    listing = subprocess.run(["ldd", *elf], capture_output=True, text=True, check=True).stdout
    found = set()
    for line in listing.splitlines():
        words = line.split()
        if len(elf) > 1 and not line[:1].isspace():
            continue  # "/usr/sbin/ipset:", the program a listing is about
        path = words[2] if len(words) > 2 and words[1] == "=>" else words[0] if words else ""
        if path.startswith("/"):
            found.add(Path(path))
    return found


def _mariadb_files() -> list[Path]:
    missing = [str(path) for path in (*MARIADB_PROGRAMS, MARIADB_SHARE) if not path.exists()]
    if missing:
        raise ImageBuildError(
            f"{', '.join(missing)} missing: install Debian's mariadb-server-core and mariadb-client-core "
            "(docker/system-deps.sh)"
        )
    files = {*MARIADB_PROGRAMS, *(path for path in MARIADB_SHARE.rglob("*") if path.is_file())}
    return sorted(files | _libraries(list(MARIADB_PROGRAMS)))


def _prepare_mysql(context: Path) -> None:
    root = context / "rootfs"
    _busybox_rootfs(root)
    _copy_into(root, _mariadb_files())
    for link, program in (("usr/sbin/mysqld", "mariadbd"), ("usr/bin/mysql", "mariadb")):
        (root / link).unlink(missing_ok=True)
        (root / link).symlink_to(program)
    shutil.copy2(IMAGES_DIR / "mysql" / "docker-entrypoint.sh", context / "docker-entrypoint.sh")


def _mysql_inputs(digest: hashlib._Hash) -> None:
    _hash_files(digest, BUSYBOX, *sorted((IMAGES_DIR / "mysql").iterdir()), *_mariadb_files())


# What kube-router runs: Debian's iptables (nf_tables flavour, the node's own, so both write one
# rule set) and ipset, as installed on this machine, with the extensions iptables loads by name.
IPTABLES_MULTI = Path("/usr/sbin/xtables-nft-multi")
IPSET = Path("/usr/sbin/ipset")
IPTABLES_NAMES = ("iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore")


def _xtables_extensions() -> list[Path]:
    folders = sorted(Path("/usr/lib").glob("*/xtables"))
    return sorted(path for folder in folders for path in folder.glob("*.so"))


def _kube_router_files() -> list[Path]:
    missing = [str(path) for path in (IPTABLES_MULTI, IPSET) if not path.is_file()]
    extensions = _xtables_extensions()
    if missing or not extensions:
        raise ImageBuildError(
            f"{', '.join(missing) or 'the iptables extensions'} missing: install Debian's iptables and ipset "
            "(docker/system-deps.sh)"
        )
    programs = [IPTABLES_MULTI, IPSET, *extensions]
    return sorted(set(programs) | _libraries(programs))


def _kube_router_binary() -> Path:
    from sandbox.cluster.tools import localcluster_bin

    return localcluster_bin() / "kube-router"


def _prepare_kube_router(context: Path) -> None:
    if not _kube_router_binary().is_file():
        raise ImageBuildError("kube-router is not built: bash docker/localcluster/build.sh --node builds it")
    root = context / "rootfs"
    _busybox_rootfs(root)
    _copy_into(root, _kube_router_files())
    for name in IPTABLES_NAMES:
        (root / "usr" / "sbin" / name).unlink(missing_ok=True)
        (root / "usr" / "sbin" / name).symlink_to(IPTABLES_MULTI.name)
    (root / "usr" / "local" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(_kube_router_binary(), root / "usr" / "local" / "bin" / "kube-router")


def _kube_router_inputs(digest: hashlib._Hash) -> None:
    _hash_files(
        digest, BUSYBOX, _kube_router_binary(), IMAGES_DIR / "kube-router" / "Dockerfile", *_kube_router_files()
    )


def kube_router_image() -> str:
    from sandbox.cluster.tools import pinned_versions

    return f"docker.io/cloudnativelabs/kube-router:{pinned_versions()['KUBE_ROUTER_VERSION']}"


def _copy_into(root: Path, paths: list[Path]) -> None:
    """Each file at its own path under root (symlinks followed: a library under the name ldd
    gave); a busybox applet of the same name gives way."""
    for path in paths:
        target = root / path.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        shutil.copy2(path, target)


@dataclass(frozen=True)
class Image:
    folder: str  # docker/images/<folder>
    name: str  # the reference Pods use
    prepare: Callable[[Path], None]  # lays out the build context
    inputs: Callable[[hashlib._Hash], None]  # feeds everything the image is made of
    variants: tuple[Variant, ...] = ()  # more references from the same build, with other build args

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *(name for name, _ in self.variants))


PAUSE = Image("pause", "registry.k8s.io/pause:3.10", _prepare_pause, _go_inputs("pause"))
# The article's PetClinic images: lesson manifests name them as on kind.
PETCLINIC = Image(
    "petclinic",
    "docker.io/spring2go/spring-petclinic:1.0.0.RELEASE",
    _prepare_petclinic,
    _petclinic_inputs,
    (("docker.io/spring2go/spring-petclinic:1.0.1.RELEASE", (("VERSION", "1.0.1.RELEASE"),)),),
)
# The article's database: a MySQL-protocol server configured as mysql:5.7 is.
MYSQL = Image("mysql", "docker.io/library/mysql:5.7", _prepare_mysql, _mysql_inputs)
IMAGES = (
    PAUSE,
    Image("busybox", "docker.io/library/busybox:1.35", _prepare_busybox, _busybox_inputs),
    PETCLINIC,
    MYSQL,
)


def images() -> tuple[Image, ...]:
    """Every image the node imports (CoreDNS's and kube-router's names carry their pinned
    versions)."""
    return (
        *IMAGES,
        Image("coredns", coredns_image(), _prepare_coredns, _coredns_inputs),
        Image("kube-router", kube_router_image(), _prepare_kube_router, _kube_router_inputs),
    )


def archive(image: Image, cache: Path) -> Path:
    """The image's OCI archive in `cache`, built only if its inputs changed."""
    digest = hashlib.sha256(f"{FORMAT}\0{image.name}\0{json.dumps(image.variants)}\0".encode())
    image.inputs(digest)
    out = cache / f"{image.folder}-{digest.hexdigest()[:16]}.tar"
    if out.is_file():
        return out
    dockerfile = (IMAGES_DIR / image.folder / "Dockerfile").read_text()
    with tempfile.TemporaryDirectory() as context:
        image.prepare(Path(context))
        write_oci_archive(Path(context), dockerfile, image.name, out, image.variants)
    for stale in cache.glob(f"{image.folder}-*.tar"):
        if stale != out:
            stale.unlink()
    return out
