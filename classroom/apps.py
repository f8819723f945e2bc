from django.apps import AppConfig


class ClassroomConfig(AppConfig):
    name = "classroom"
    verbose_name = "Classrooms"

    def ready(self) -> None:
        from classroom import checks, signals  # noqa: F401  (registers the system checks and receivers)
        from classroom.sizing import class_size
        from lessons import engine

        # A class's students get sandboxes of the class's size for its lessons.
        if class_size not in engine.size_advisers:
            engine.size_advisers.append(class_size)
