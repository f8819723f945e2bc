from django.apps import AppConfig


class TerminalConfig(AppConfig):
    name = "sandbox.terminal"
    label = "terminal"
    verbose_name = "Terminal"
