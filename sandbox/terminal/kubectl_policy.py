"""What a student's kubectl may do on our server.

RBAC protects the cluster; this module protects the host that runs kubectl. It is an
allow-list, and it reads the arguments exactly the way kubectl does (cobra finds the command,
pflag parses the flags), because any difference between how we read a line and how kubectl
reads it is a way around us:

- the command comes first: `kubectl SUBCOMMAND [CHILD] ...` — flags before the subcommand are
  refused, so no flag value can be mistaken for the command or the other way round;
- only known flags are accepted, each with pflag's own behaviour: a boolean never takes the
  next word; a flag with a default (`--dry-run`, `--cascade`) takes a value only after `=`;
  any other flag takes `=value`, the rest of a short cluster (`-nfoo`), or the next word
  whatever it is; `-n=` is an empty value; `_` in a flag name counts as `-` (kubectl's
  normalisation);
- flags that change who kubectl is or where it connects are refused (the student's kubeconfig
  is fixed), and so are flags that read or write host files, unless the file is one of the
  workspace's;
- subcommands that touch the host (proxy, cp, plugins, kustomize) or run programs (edit's
  editor) are refused, and `edit`/`port-forward` are answered by the platform instead;
- output templates from files (`-o jsonpath-file=F`, `-o go-template-file --template=F`) name a
  workspace file, like -f.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox import names
from sandbox.terminal.errors import Denied

# Subcommand -> the children it needs (None: no children). "flags-ok" children may be skipped
# in favour of flags (`kubectl create -f x`, `kubectl apply -f x`).
CHILDREN: dict[str, set[str] | None] = {
    "get": None,
    "describe": None,
    "delete": None,
    "run": None,
    "expose": None,
    "scale": None,
    "label": None,
    "annotate": None,
    "logs": None,
    "exec": None,
    "attach": None,
    "explain": None,
    "api-resources": None,
    "api-versions": None,
    "version": None,
    "cluster-info": None,  # and `cluster-info dump` to the terminal (never to a directory)
    "wait": None,
    "replace": None,
    "patch": None,
    "autoscale": None,
    "events": None,
    "help": None,
    "completion": None,
    "options": None,
    "edit": None,
    "port-forward": None,
    # Runs the diff program the terminal names (sandbox/terminal/process.py), never one of the student's.
    "diff": None,
    "create": {
        "deployment",
        "service",
        "configmap",
        "secret",
        "job",
        "cronjob",
        "ingress",
        "namespace",
        "quota",
        "token",
        "role",
        "rolebinding",
        "clusterrole",
        "clusterrolebinding",
        "poddisruptionbudget",
        "priorityclass",
        "serviceaccount",
    },
    "apply": {"view-last-applied", "set-last-applied"},
    "rollout": {"status", "history", "undo", "restart", "pause", "resume"},
    "set": {"image", "env", "resources", "selector", "serviceaccount", "subject"},
    "auth": {"can-i", "whoami"},
    "config": {"view", "current-context", "get-contexts"},
    "top": {"pod", "pods", "node", "nodes"},
}
FLAGS_INSTEAD_OF_CHILD = {"create", "apply"}

REFUSED_SUBCOMMANDS = {
    "proxy": "kubectl proxy would open a port on the server; it is not available here",
    "cp": "kubectl cp copies files to or from the server; it is not available here",
    "plugin": "kubectl plugins are not available here",
    "kustomize": "kustomize can read files outside the workspace; it is not available here",
    "debug": "kubectl debug is not part of the lessons",
    "alpha": "alpha commands are not available here",
    "certificate": "certificates are managed by the cluster administrator",
    "cordon": "nodes are shared by everyone; they are read-only here",
    "uncordon": "nodes are shared by everyone; they are read-only here",
    "drain": "nodes are shared by everyone; they are read-only here",
    "taint": "nodes are shared by everyone; they are read-only here",
}

# Refused with a specific reason (checked before the allow-list, so the message says why).
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
    "disable-compression",
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
    "output-directory",
    "one-output",
    "logtostderr",
    "alsologtostderr",
    "skip-headers",
}
PORT_FLAGS = {
    "address",
    "accept-hosts",
    "accept-paths",
    "reject-paths",
    "www",
    "www-prefix",
    "api-prefix",
    "unix-socket",
    "disable-filter",
}
FILE_FLAGS = {"filename", "from-file", "from-env-file", "cert", "key", "env-file", "patch-file"}
# Output formats whose template is read from a file: `-o KIND=FILE`, or `-o KIND --template=FILE`.
FILE_OUTPUTS = {"custom-columns-file", "go-template-file", "jsonpath-file", "templatefile", "template-file"}

# The allowed flags and how pflag treats each: "bool" never takes the next word, "default"
# (a flag with NoOptDefVal) takes a value only after "=", "value" takes "=v", the rest of a
# short cluster, or the next word.
FLAGS: dict[str, str] = {
    # kubectl's global flags that are harmless here
    "namespace": "value",
    "request-timeout": "value",
    "v": "value",
    "match-server-version": "bool",
    "warnings-as-errors": "bool",
    "help": "bool",
    # reading
    "all-namespaces": "bool",
    "output": "value",
    "selector": "value",
    "field-selector": "value",
    "label-columns": "value",
    "show-labels": "bool",
    "show-kind": "bool",
    "sort-by": "value",
    "no-headers": "bool",
    "watch": "bool",
    "watch-only": "bool",
    "output-watch-events": "bool",
    "chunk-size": "value",
    "ignore-not-found": "bool",
    "template": "value",
    "allow-missing-template-keys": "bool",
    "raw": "value",
    "show-events": "bool",
    "show-managed-fields": "bool",
    "subresource": "value",
    "server-print": "bool",
    "recursive": "bool",
    "api-version": "value",
    "list": "bool",
    "minify": "bool",
    "client": "bool",
    "flatten": "bool",
    "verbs": "value",
    "api-group": "value",
    "namespaced": "bool",
    "cached": "bool",
    "types": "value",  # kubectl events --types=Warning
    "namespaces": "value",  # kubectl cluster-info dump --namespaces=NS
    # writing
    "filename": "value",
    "dry-run": "default",
    "validate": "default",
    "server-side": "bool",
    "force-conflicts": "bool",
    "field-manager": "value",
    "record": "bool",
    "save-config": "bool",
    "overwrite": "bool",
    "local": "bool",
    "all": "bool",
    "force": "bool",
    "grace-period": "value",
    "now": "bool",
    "wait": "bool",
    "cascade": "default",
    "timeout": "value",
    "for": "value",
    "patch": "value",
    "type": "value",
    "patch-file": "value",
    "resource-version": "value",
    "current-replicas": "value",
    "replicas": "value",
    "image": "value",
    "port": "value",
    "target-port": "value",
    "protocol": "value",
    "name": "value",
    "labels": "value",
    "env": "value",
    "from": "value",
    "keys": "value",
    "prefix": "bool",
    "restart": "value",
    "rm": "bool",
    "stdin": "bool",
    "tty": "bool",
    "command": "bool",
    "overrides": "value",
    "image-pull-policy": "value",
    "expose": "bool",
    "annotations": "value",
    "privileged": "bool",
    "from-literal": "value",
    "from-file": "value",
    "from-env-file": "value",
    "append-hash": "bool",
    "cert": "value",
    "key": "value",
    "tcp": "value",
    "node-port": "value",
    "clusterip": "value",
    "external-name": "value",
    "class": "value",
    "rule": "value",
    "default-backend": "value",
    "annotation": "value",
    "schedule": "value",
    "min": "value",
    "max": "value",
    "cpu-percent": "value",
    "cpu": "value",
    "limits": "value",
    "requests": "value",
    "containers": "value",
    "resource": "value",
    "to-revision": "value",
    "revision": "value",
    "external-ip": "value",
    "session-affinity": "value",
    "load-balancer-ip": "value",
    "generator": "value",
    "hard": "value",
    "scopes": "value",
    "serviceaccount": "value",
    "role": "value",
    "clusterrole": "value",
    "group": "value",
    "user-group": "value",
    "duration": "value",
    "audience": "value",
    "bound-object-kind": "value",
    "bound-object-name": "value",
    "bound-object-uid": "value",
    "min-available": "value",
    "max-unavailable": "value",
    "env-file": "value",
    # logs, exec, attach
    "container": "value",
    "follow": "bool",
    "previous": "bool",
    "tail": "value",
    "since": "value",
    "since-time": "value",
    "timestamps": "bool",
    "limit-bytes": "value",
    "all-containers": "bool",
    "max-log-requests": "value",
    "ignore-errors": "bool",
    "pod-running-timeout": "value",
    "quiet": "bool",
    "pod-logs": "bool",
}
SHORT: dict[str, str] = {
    "n": "namespace",
    "o": "output",
    "l": "selector",
    "f": "filename",
    "A": "all-namespaces",
    "R": "recursive",
    "w": "watch",
    "L": "label-columns",
    "c": "container",
    "i": "stdin",
    "t": "tty",
    "r": "replicas",
    "e": "env",
    "p": "patch",
    "q": "quiet",
    "h": "help",
    "v": "v",
    "k": "kustomize",
    "s": "server",
    "a": "all",
}
# Flags whose kind differs in one subcommand (checked against kubectl's --help by
# tests/cluster/test_kubectl_flags.py, for every allowed subcommand).
KIND_IN = {("top", "containers"): "bool", ("set", "prefix"): "value", ("config", "raw"): "bool"}
# Short letters that mean something else in one subcommand.
SHORT_IN = {"logs": {"f": "follow", "p": "previous"}, "top": {"A": "all-namespaces"}}
STREAMING_FLAGS = {"watch", "watch-only", "follow"}


@dataclass
class KubectlCall:
    """The parts of a kubectl command line that the runner needs to know."""

    subcommand: str
    child: str | None = None
    files: list[str] = field(default_factory=list)
    interactive: bool = False  # wants stdin (-i) or a TTY (-t)
    streaming: bool = False  # runs until interrupted (watch, follow, exec -it...)
    edit_target: list[str] = field(default_factory=list)  # `kubectl edit TYPE NAME`: the browser's editor
    # `kubectl port-forward [KIND/]NAME PORT`: (pod | service | deployment, name, remote port
    # as a number or a port's name)
    forward: tuple[str, str, int | str] | None = None
    flags: dict[str, list[str]] = field(default_factory=dict)  # name -> values given


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


def _check_flag(name: str, value: str | None, call: KubectlCall, workspace: set[str], shown: str) -> None:
    if name == "kustomize":
        raise Denied(f"{shown}: kustomize can read files outside the workspace; it is not available here")
    if name in IDENTITY_FLAGS:
        raise Denied(f"{shown} is not allowed: this terminal always uses your own sandbox credentials")
    if name in HOST_FLAGS:
        raise Denied(f"{shown} is not allowed: it would read or write files on the server")
    if name in PORT_FLAGS:
        raise Denied(f"{shown} is not allowed: it would open a port on the server")
    if name not in FLAGS:
        raise Denied(f"{shown}: this option is not available here (type `kubectl {call.subcommand} --help` for others)")
    if name == "v" and not names.is_decimal(value):
        raise Denied(f"{shown}: the log level must be a number, e.g. -v=6")
    if name == "output" and value:
        kind, eq, path = value.partition("=")
        if kind.lower() in FILE_OUTPUTS and eq:
            call.files.append(check_path(path, f"{shown} {kind}", workspace))
    if name in FILE_FLAGS:
        if name == "from-file" and value and "=" in value:
            value = value.split("=", 1)[1]  # --from-file=key=path
        call.files.append(check_path(value or "", f"--{name}", workspace))
    if name in STREAMING_FLAGS and value in (None, "true"):
        call.streaming = True
    if name in ("stdin", "tty") and value in (None, "true"):
        call.interactive = True
        call.streaming = True
    call.flags.setdefault(name, []).append(value or "")


def _kind(name: str, subcommand: str = "") -> str:
    return KIND_IN.get((subcommand, name)) or FLAGS.get(name, "value")


def _next_value(rest: list[str], i: int, shown: str) -> str:
    """A value taken from the next word. pflag takes it whatever it is, but no value a lesson
    needs starts with '-': refusing those stops any flag from hiding behind a misread one."""
    value = rest[i] if i < len(rest) else ""
    if value.startswith("-") and value != "-":  # "-" alone is standard input (-f -)
        raise Denied(f"{shown} needs a value, e.g. {shown}=VALUE")
    return value


def check(args: list[str], workspace: set[str]) -> KubectlCall:
    """Check kubectl's arguments (without the leading "kubectl"). Raises Denied."""
    if not args:
        raise Denied("which kubectl command? e.g. `kubectl get pods` (type `help` for more)")
    if args[0].startswith("-"):
        if args[0] in ("-h", "--help"):
            return KubectlCall(subcommand="help")
        name = args[0].lstrip("-").partition("=")[0].replace("_", "-")
        name = SHORT.get(name, name)
        if name in IDENTITY_FLAGS | HOST_FLAGS | PORT_FLAGS | {"kustomize"}:
            _check_flag(name, None, KubectlCall(subcommand=""), workspace, args[0].partition("=")[0])
        raise Denied("put the command first, then its options, e.g. `kubectl get pods -n NAMESPACE`")
    call = KubectlCall(subcommand=args[0])
    if call.subcommand in REFUSED_SUBCOMMANDS:
        raise Denied(f"kubectl {call.subcommand}: {REFUSED_SUBCOMMANDS[call.subcommand]}")
    if call.subcommand not in CHILDREN:
        raise Denied(f"kubectl {call.subcommand}: unknown or not available here; try `kubectl help`")
    rest = args[1:]
    if call.subcommand == "apply" and rest[:1] == ["edit-last-applied"]:
        raise Denied("kubectl apply edit-last-applied needs an editor on the server; it is not available here")
    children = CHILDREN[call.subcommand]
    if children is not None:
        first = rest[0] if rest else None
        if first is not None and not first.startswith("-"):
            if first not in children:
                allowed = ", ".join(sorted(children))
                raise Denied(f"kubectl {call.subcommand} {first} is not available here; allowed: {allowed}")
            call.child = first
            rest = rest[1:]
        elif call.subcommand not in FLAGS_INSTEAD_OF_CHILD:
            raise Denied(f"kubectl {call.subcommand} needs one of: {', '.join(sorted(children))}")
    shorts = {**SHORT, **SHORT_IN.get(call.subcommand, {})}

    positionals: list[str] = []
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--":
            break  # the rest is the container's command (exec, run)
        if arg.startswith("--") and len(arg) > 2:
            raw_name, eq, inline = arg[2:].partition("=")
            name = raw_name.replace("_", "-")  # kubectl normalises flag names this way
            value: str | None = inline if eq else None
            if not eq and _kind(name, call.subcommand) == "value" and name in FLAGS:
                value = _next_value(rest, i, f"--{raw_name}")
                i += 1
            _check_flag(name, value, call, workspace, f"--{raw_name}")
        elif arg.startswith("-") and len(arg) > 1:
            cluster = arg[1:]
            j = 0
            while j < len(cluster):
                letter = cluster[j]
                j += 1
                if letter not in shorts:
                    raise Denied(f"-{letter}: this option is not available here")
                name = shorts[letter]
                if _kind(name, call.subcommand) == "value" or name in IDENTITY_FLAGS or name == "kustomize":
                    if j < len(cluster):  # -nfoo, -n=foo, -n= (an empty value)
                        value = cluster[j + 1 :] if cluster[j] == "=" else cluster[j:]
                    else:
                        value = _next_value(rest, i, f"-{letter}")
                        i += 1
                    _check_flag(name, value, call, workspace, f"-{letter}")
                    break
                if j < len(cluster) and cluster[j] == "=":  # -w=false
                    _check_flag(name, cluster[j + 1 :], call, workspace, f"-{letter}")
                    break
                _check_flag(name, None, call, workspace, f"-{letter}")
        else:
            positionals.append(arg)

    _check_subcommand(call, positionals, workspace)
    return call


def _check_subcommand(call: KubectlCall, positionals: list[str], workspace: set[str]) -> None:
    if call.subcommand == "cluster-info" and positionals not in ([], ["dump"]):
        raise Denied("usage: kubectl cluster-info, or kubectl cluster-info dump (it prints to the terminal)")
    if any(value.lower() in FILE_OUTPUTS for value in call.flags.get("output", [])):
        # `-o go-template-file --template=FILE`: the template flag names the file.
        for value in call.flags.get("template", []):
            call.files.append(check_path(value, "--template", workspace))
    if call.subcommand == "diff" and (positionals or not call.files):
        raise Denied("usage: kubectl diff -f FILE (a file of your workspace)")
    if call.subcommand == "apply" and call.child is None and positionals:
        raise Denied(f"kubectl apply {positionals[0]} is not available here; apply a file with -f NAME")
    if call.subcommand == "config" and ("raw" in call.flags or "flatten" in call.flags):
        raise Denied("kubectl config view --raw would print your credentials; plain `kubectl config view` works")
    if call.subcommand == "rollout" and call.child == "status":
        call.streaming = True
    if call.subcommand == "port-forward":
        call.forward = _forward_target(positionals, call)
    if call.subcommand == "edit":
        if call.files:
            raise Denied(
                "to edit a workspace file, open it in the editor tab; `kubectl edit TYPE NAME` edits an object"
            )
        if not positionals:
            raise Denied("which object? e.g. `kubectl edit deployment petclinic`")
        if "output" in call.flags:
            raise Denied("kubectl edit here always opens YAML in the editor tab; leave out -o")
        call.edit_target = positionals


def _forward_target(positionals: list[str], call: KubectlCall) -> tuple[str, str, int | str]:
    """`port-forward [pod/|svc/|deploy/]NAME [LOCAL:]REMOTE`: what to reach and on which port
    (a number, or the name of a Service's or container's port)."""
    usage = "usage: kubectl port-forward POD PORT, e.g. kubectl port-forward petclinic 8080 (or svc/NAME, deploy/NAME)"
    if "namespace" in call.flags:
        raise Denied("port-forward works in your own namespace only; leave out -n")
    if len(positionals) != 2:
        raise Denied(usage)
    target, ports = positionals
    kind, _, name = target.rpartition("/")
    kinds = {
        "": "pod",
        "pod": "pod",
        "pods": "pod",
        "po": "pod",
        "svc": "service",
        "service": "service",
        "services": "service",
        "deploy": "deployment",
        "deployment": "deployment",
        "deployments": "deployment",
    }
    if kind not in kinds:
        raise Denied(f"port-forward here goes to a pod, a Service or a Deployment ({usage})")
    remote = ports.rpartition(":")[2]
    port: int | str | None = names.port(remote)
    if port is None and names.is_port_name(remote):
        port = remote
    if port is None or not names.is_dns_subdomain(name):
        raise Denied(usage)
    return kinds[kind], name, port
