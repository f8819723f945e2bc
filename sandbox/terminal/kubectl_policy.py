"""What a student's kubectl may do on our server.

RBAC protects the cluster; this module protects the host that runs kubectl. It reads the
arguments the way kubectl's flag parser (pflag) does — `--flag=value`, `--flag value`,
`-fvalue`, `-f=value`, clusters of short flags such as `-it`, everything after `--` belonging
to the container — and refuses, with a message meant for the student:

- flags that change who kubectl is or where it connects (the student's kubeconfig is fixed);
- flags that read or write files on the host, unless the file is one of the workspace's;
- subcommands that touch the host (proxy, cp, plugins) or run programs (edit's editor, diff);
- any subcommand not on the allow-list (an unknown one would make kubectl look for a plugin).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.terminal.errors import Denied

# Subcommands and, where it matters, which of their own subcommands are allowed.
ALLOWED: dict[str, set[str] | None] = {
    "get": None,
    "describe": None,
    "create": None,
    "apply": {"view-last-applied", "set-last-applied"},
    "delete": None,
    "run": None,
    "expose": None,
    "set": None,
    "scale": None,
    "rollout": None,
    "label": None,
    "annotate": None,
    "logs": None,
    "exec": None,
    "attach": None,
    "explain": None,
    "api-resources": None,
    "api-versions": None,
    "version": None,
    "cluster-info": set(),
    "auth": {"can-i", "whoami"},
    "wait": None,
    "replace": None,
    "patch": None,
    "autoscale": None,
    "top": None,
    "events": None,
    "config": {"view", "current-context", "get-contexts"},
    "help": None,
    "completion": None,
    "options": None,
    # Not kubectl's own editor: the runner opens the object in the browser's editor instead.
    "edit": None,
    # Not a port on our server: the runner answers with a link through the platform.
    "port-forward": None,
}
# Subcommands whose sub-subcommand may be left out (`apply -f x`, plain `cluster-info`).
OPTIONAL_CHILD = {"apply", "cluster-info"}

REFUSED_SUBCOMMANDS = {
    "proxy": "kubectl proxy would open a port on the server; it is not available here",
    "cp": "kubectl cp copies files to or from the server; it is not available here",
    "plugin": "kubectl plugins are not available here",
    "kustomize": "kustomize can read files outside the workspace; it is not available here",
    "diff": "kubectl diff runs a diff program on the server; use `kubectl apply --dry-run=server -f FILE`",
    "debug": "kubectl debug is not part of the lessons",
    "alpha": "alpha commands are not available here",
    "certificate": "certificates are managed by the cluster administrator",
    "cordon": "nodes are shared by everyone; they are read-only here",
    "uncordon": "nodes are shared by everyone; they are read-only here",
    "drain": "nodes are shared by everyone; they are read-only here",
    "taint": "nodes are shared by everyone; they are read-only here",
}

# Long flags (without dashes) that change identity or target, or touch host files or programs.
IDENTITY_FLAGS = {
    "kubeconfig",
    "server",
    "token",
    "as",
    "as-group",
    "as-uid",
    "as-user-extra",
    "context",
    "cluster",
    "user",
    "certificate-authority",
    "client-certificate",
    "client-key",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "username",
    "password",
    "auth-provider",
    "auth-provider-arg",
    "exec-command",
    "exec-arg",
    "exec-env",
}
HOST_FLAGS = {
    "cache-dir",
    "log-file",
    "log-dir",
    "log-file-max-size",
    "log-backtrace-at",
    "vmodule",
    "profile",
    "profile-output",
    "kuberc",
    "kustomize",
    "output-directory",
}
FILE_FLAGS = {"filename", "from-file", "from-env-file", "cert", "key", "env-file"}
SHORT_NAMES = {
    "f": "filename",
    "k": "kustomize",
    "s": "server",
    "n": "namespace",
    "o": "output",
    "l": "selector",
    "c": "container",
    "L": "label-columns",
    "e": "env",
    "p": "patch",
    "r": "replicas",
    "v": "v",
}
# Short flags that take a value (all others in a cluster like -it are booleans).
SHORT_WITH_VALUE = set(SHORT_NAMES)
FILE_OUTPUTS = ("jsonpath-file", "go-template-file", "template-file", "custom-columns-file")
# Long flags known to take a value, so the next word is skipped rather than read as a positional.
LONG_WITH_VALUE = {
    "namespace",
    "output",
    "selector",
    "container",
    "label-columns",
    "env",
    "patch",
    "replicas",
    "image",
    "port",
    "target-port",
    "type",
    "name",
    "from-literal",
    "from",
    "field-selector",
    "sort-by",
    "template",
    "timeout",
    "for",
    "request-timeout",
    "to-revision",
    "revision",
    "since",
    "tail",
    "limit-bytes",
    "since-time",
    "restart",
    "labels",
    "overrides",
    "dry-run",
    "field-manager",
    "grace-period",
    "cascade",
    "min",
    "max",
    "cpu-percent",
    "cpu",
    "memory",
    "resource",
    "containers",
    "protocol",
    "external-ip",
    "session-affinity",
    "cluster-ip",
    "node-port",
    "chunk-size",
    "subresource",
    "raw",
    "v",
    "duration",
    "audience",
    "bound-object-kind",
    "bound-object-name",
    "bound-object-uid",
    "class",
    "rule",
    "default-backend",
    "annotation",
    "schedule",
    "requests",
    "limits",
    "api-group",
    "types",
    "verbs",
    "sort",
    "current-replicas",
    "resource-version",
    "max-unavailable",
    "min-available",
    "pod-running-timeout",
    "filename",
    "from-file",
    "from-env-file",
    "cert",
    "key",
    "env-file",
    "api-version",
    "output-directory",
}


@dataclass
class KubectlCall:
    """The parts of a kubectl command line that the runner needs to know."""

    subcommand: str
    child: str | None = None
    files: list[str] = field(default_factory=list)
    interactive: bool = False  # wants stdin (-i) or a TTY (-t)
    streaming: bool = False  # runs until interrupted (watch, follow, exec -it...)
    edit_target: list[str] = field(default_factory=list)  # `kubectl edit TYPE NAME`: the browser's editor
    forward: tuple[str, int] | None = None  # `kubectl port-forward POD PORT`: (pod, remote port)


def check_path(value: str, label: str, workspace: set[str]) -> str:
    """A file argument must name one of the workspace's files (or "-" for standard input, "."
    for all of them). `label` names the flag or command in the message."""
    if value in ("-", ".", "./"):
        return value
    if "://" in value:
        raise Denied(f"{label} {value}: URLs are not allowed; save the manifest as a workspace file first")
    if value.startswith(("/", "~")):
        raise Denied(f"{label} {value}: only workspace files can be used; `ls` lists them")
    name = value[2:] if value.startswith("./") else value
    if "/" in name or "\\" in name or name in ("", "..") or name.startswith(".."):
        raise Denied(f"{label} {value}: only workspace files can be used (no folders or '..'); `ls` lists them")
    if name not in workspace:
        raise Denied(f"{label} {value}: there is no workspace file named {name!r}; `ls` lists them")
    return name


def _file_value(flag: str, value: str, workspace: set[str]) -> str:
    if flag == "from-file" and "=" in value:
        value = value.split("=", 1)[1]  # --from-file=key=path
    return check_path(value, f"--{flag}", workspace)


def _check_flag(name: str, value: str | None, call: KubectlCall, workspace: set[str], shown: str) -> None:
    if name == "kustomize":
        raise Denied(f"{shown}: kustomize can read files outside the workspace; it is not available here")
    if name in IDENTITY_FLAGS:
        raise Denied(f"{shown} is not allowed: this terminal always uses your own sandbox credentials")
    if name == "address":  # only proxy and port-forward have it: the address to listen on
        raise Denied(f"{shown} is not allowed: it would open a port on the server")
    if name in HOST_FLAGS:
        raise Denied(f"{shown} is not allowed: it would read or write files on the server")
    if name == "v" and value is not None and not value.isdigit():
        raise Denied(f"{shown}: the log level must be a number, e.g. -v=6")
    if name == "output" and value and value.split("=", 1)[0] in FILE_OUTPUTS:
        raise Denied(
            f"{shown}: templates from files are not allowed; "
            "put the template inline, e.g. -o jsonpath='{.metadata.name}'"
        )
    if name in FILE_FLAGS:
        if value is None:
            raise Denied(f"{shown} needs a file name")
        call.files.append(_file_value(name, value, workspace))
    if name in ("watch", "watch-only", "follow"):
        call.streaming = True
    if name in ("stdin", "tty"):
        call.interactive = True


def _forward_target(positionals: list[str], args: list[str]) -> tuple[str, int]:
    """`port-forward [pod/]NAME [LOCAL:]REMOTE`: the pod and the port on it."""
    usage = "usage: kubectl port-forward POD PORT, e.g. kubectl port-forward petclinic 8080"
    if any(a in ("-n", "--namespace") or a.startswith(("--namespace=", "-n=")) for a in args):
        raise Denied("port-forward works in your own namespace only; leave out -n")
    if len(positionals) != 2:
        raise Denied(usage)
    target, ports = positionals
    kind, _, name = target.rpartition("/")
    if kind not in ("", "pod", "pods", "po"):
        raise Denied(f"port-forward here goes to a pod: use `kubectl get pods` to find one ({usage})")
    remote = ports.rpartition(":")[2]
    if not remote.isdigit() or not 1 <= int(remote) <= 65535 or not name:
        raise Denied(usage)
    return name, int(remote)


def check(args: list[str], workspace: set[str]) -> KubectlCall:
    """Check kubectl's arguments (without the leading "kubectl"). Raises Denied."""
    positionals: list[str] = []
    call = KubectlCall(subcommand="")
    i = 0
    # `logs -f` means follow and `logs -p` previous: booleans there, values elsewhere.
    subcommand_hint = next((a for a in args if not a.startswith("-")), "")
    bool_shorts = {"f", "p"} if subcommand_hint == "logs" else set()
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            break  # the rest is the container's command (exec, run)
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            if not eq:
                value_or_none: str | None = None
                if name in LONG_WITH_VALUE and i < len(args):
                    value_or_none = args[i]
                    i += 1
            else:
                value_or_none = value
            if name == "follow" or (name == "watch" and value_or_none in (None, "true")):
                call.streaming = True
            _check_flag(name, value_or_none, call, workspace, f"--{name}")
        elif arg.startswith("-") and len(arg) > 1:
            cluster = arg[1:]
            j = 0
            while j < len(cluster):
                short = cluster[j]
                j += 1
                if short in SHORT_WITH_VALUE and short not in bool_shorts:
                    value = cluster[j:]
                    if value.startswith("="):
                        value = value[1:]
                    if not value:
                        if i < len(args):
                            value = args[i]
                            i += 1
                        else:
                            value = ""
                    _check_flag(SHORT_NAMES[short], value or None, call, workspace, f"-{short}")
                    break
                if short in ("w", "f"):  # -w watch, logs -f follow
                    call.streaming = True
                elif short in ("i", "t"):
                    call.interactive = True
                    call.streaming = True
        else:
            positionals.append(arg)

    if not positionals:
        raise Denied("which kubectl command? e.g. `kubectl get pods` (type `help` for more)")
    call.subcommand = positionals[0]
    if call.subcommand in REFUSED_SUBCOMMANDS:
        raise Denied(f"kubectl {call.subcommand}: {REFUSED_SUBCOMMANDS[call.subcommand]}")
    if call.subcommand not in ALLOWED:
        raise Denied(f"kubectl {call.subcommand}: unknown or not available here; try `kubectl help`")
    if call.subcommand == "apply" and len(positionals) > 1 and positionals[1] == "edit-last-applied":
        raise Denied("kubectl apply edit-last-applied needs an editor on the server; it is not available here")
    children = ALLOWED[call.subcommand]
    if children is not None:
        call.child = positionals[1] if len(positionals) > 1 else None
        if call.child is None and call.subcommand not in OPTIONAL_CHILD:
            raise Denied(f"kubectl {call.subcommand} needs one of: {', '.join(sorted(children))}")
        if call.child is not None and call.child not in children:
            raise Denied(
                f"kubectl {call.subcommand} {call.child} is not available here; allowed: {', '.join(sorted(children))}"
            )
    if call.subcommand == "config" and any(a.split("=")[0] in ("--raw", "--flatten") for a in args):
        raise Denied(
            "kubectl config view --raw/--flatten would print your credentials; plain `kubectl config view` works"
        )
    if call.subcommand == "rollout" and call.child is None and len(positionals) > 1:
        call.child = positionals[1]
    if call.subcommand == "rollout" and len(positionals) > 1 and positionals[1] == "status":
        call.streaming = True
    if call.subcommand in ("exec", "attach", "run") and call.interactive:
        call.streaming = True
    if call.subcommand == "port-forward":
        call.forward = _forward_target(positionals[1:], args)
    if call.subcommand == "edit":
        if call.files:
            raise Denied(
                "to edit a workspace file, open it in the editor tab; `kubectl edit TYPE NAME` edits an object"
            )
        if len(positionals) < 2:
            raise Denied("which object? e.g. `kubectl edit deployment petclinic`")
        if any(a.split("=")[0] in ("-o", "--output") or a.startswith("-o") for a in args):
            raise Denied("kubectl edit here always opens YAML in the editor tab; leave out -o")
        call.edit_target = positionals[1:]
    return call
