"""The Django project: settings (read from the environment through env.py), the root URLs,
the ASGI application and the Celery app. The apps are sandbox/, lessons/ and accounts/."""

# Import the Celery app when Django starts so that @shared_task binds to it.
from config.celery import app as celery_app

__all__ = ["celery_app"]
