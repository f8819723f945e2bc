from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "classroom"
    verbose_name = "Classrooms"

    def ready(self) -> None:
        from classroom import checks, signals  # noqa: F401  (registers the system checks and receivers)
