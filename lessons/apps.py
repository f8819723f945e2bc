from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "lessons"
    verbose_name = "Lessons"

    def ready(self) -> None:
        from lessons.realtime import LessonHandler
        from sandbox.realtime import handlers

        # lesson.* messages on the sandbox page's socket.
        handlers.register("lesson", LessonHandler)
