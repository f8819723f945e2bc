"""What the platform answers itself instead of running a program: `kubectl edit` (the object
opens in the page's editor), `kubectl port-forward` (a link, no port), and the builtins (help,
clear, history, echo, ls, cat)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from asgiref.sync import sync_to_async

from sandbox.models import Sandbox
from sandbox.terminal import edit as editing
from sandbox.terminal import forward_target, ledger, policy, workspace
from sandbox.terminal.errors import Denied
from sandbox.terminal.forward import link as forward_link
from sandbox.terminal.output import CLEAR, DIM, RESET, Throttle, error_line
from sandbox.terminal.runner import Runner

# Tells the page about something other than output (open a file in the editor, a link).
Notify = Callable[[dict[str, Any]], Awaitable[None]]


async def edit(step: policy.EditStep, runner: Runner, sandbox: Sandbox, notify: Notify | None, out: Throttle) -> int:
    """`kubectl edit TYPE NAME`: the object's YAML becomes a workspace file that the page
    opens in its editor; the student saves it and applies it."""
    status, stdout, stderr = await runner.capture(step.read_argv, workspace.MAX_FILE_BYTES + 1, 64 * 1024)
    if len(stdout) > workspace.MAX_FILE_BYTES:
        await out.write(error_line("the object is too large to edit here; use kubectl patch"))
        return 1
    if status:
        await out.write(stderr.replace(b"\n", b"\r\n"))
        return status
    target = "-".join(step.target).replace("/", "-").lower()
    name = ("edit-" + "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in target))[:59] + ".yaml"
    try:
        text = editing.editable(stdout.decode(errors="replace"), name)
        await ledger.run(workspace.save, sandbox, name, text)
    except Denied as exc:
        await out.write(error_line(exc.message))
        return 1
    if notify:
        await notify({"type": "editor.open", "name": name})
    message = f"Opened {name} in the editor. Change it, save (Ctrl-S), then run: kubectl apply -f {name}"
    await out.write(message.encode() + b"\r\n")
    return 0


async def forward(
    step: policy.ForwardStep, sandbox: Sandbox, base_url: str, notify: Notify | None, out: Throttle
) -> int:
    """`kubectl port-forward POD PORT`: no port opens on the server; the student gets a link
    that carries HTTP requests to the pod through the platform (sandbox/terminal/forward.py).
    A Service or Deployment target is resolved to one of its pods, as kubectl does."""
    try:
        # A call to the cluster: on a thread of the pool, not on asgiref's one shared thread,
        # where every port-forward of the process (and every other such call) would wait for the
        # one before it.
        resolve = sync_to_async(forward_target.resolve, thread_sensitive=False)
        pod, port = await resolve(step.kind, step.name, step.port, sandbox.namespace)
    except Denied as exc:
        await out.write(error_line(exc.message))
        return 1
    url = base_url + forward_link(pod, port)
    if notify:
        await notify({"type": "forward.open", "url": url, "pod": pod, "port": port})
    await out.write(f"Forwarding to port {port} of pod {pod}: open {url}\r\n".encode())
    await out.write(f"{DIM}(only you can open this link; it works while the pod runs){RESET}\r\n".encode())
    return 0


async def builtin(step: policy.BuiltinStep, history: Sequence[str], sandbox: Sandbox) -> AsyncIterator[str]:
    """A builtin's output, line by line (a pipeline may read it)."""
    if step.name == "help":
        for line in HELP.splitlines():
            yield line
    elif step.name == "clear":
        yield CLEAR.rstrip("\n")
    elif step.name == "history":
        for number, line in enumerate(history, start=1):
            yield f"{number:>5}  {line}"
    elif step.name == "echo":
        yield " ".join(step.args)
    else:
        contents = await ledger.run(workspace.files, sandbox)
        if step.name == "ls":
            for name, content in sorted(contents.items()):
                yield f"{len(content.encode()):>8}  {name}"
            if not contents:
                yield f"{DIM}(no workspace files yet){RESET}"
        else:  # cat
            for line in contents[step.args[0].removeprefix("./")].splitlines():
                yield line


HELP = """\
This terminal runs kubectl in your own namespace, plus a few helpers:

  kubectl ...                 e.g. kubectl get pods, kubectl apply -f petclinic-pod.yml
  ... | grep PATTERN          also head, tail, wc, sort, uniq (they read from the pipe)
  a ; b    a && b             run one after the other (&& only if the first succeeded)
  ls, cat NAME                the workspace files (edit them in the editor tab)
  history, clear, help        Ctrl-C stops a command, Ctrl-L clears, Up/Down recall lines

Not available here: shell variables, $(...), redirection (>), files outside the workspace,
kubectl proxy/cp/plugins. Every command is recorded in the audit log."""
