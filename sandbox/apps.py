from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Sandboxes"

    def ready(self) -> None:
        from sandbox import checks  # noqa: F401  (registers the system checks)
        from sandbox.liveview.handlers import ClusterHandler
        from sandbox.realtime import handlers
        from sandbox.terminal.handlers import ShadowHandler, TerminalHandler

        # The sandbox page's socket: terminal.* and cluster.* messages (lessons add lesson.*).
        handlers.register("terminal", TerminalHandler)
        handlers.register("cluster", ClusterHandler)
        handlers.register("shadow", ShadowHandler)  # who watches the student's terminal
