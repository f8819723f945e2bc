"""Django settings. Every value that differs between machines comes from the environment
through the strict readers in sandbox.env; `.env.example` lists them all, and the system
checks in sandbox.checks report what is missing or unsafe."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import django_stubs_ext
from django.utils.translation import gettext_lazy as _

from sandbox.env import database_from_url, env_bool, env_int, env_list, env_secret, env_str

# Lets generic Django classes be subscripted at run time (ModelAdmin[Lesson]) for mypy.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)
# Without SECRET_KEY, system check sandbox.E001 stops the server outside DEBUG. The stand-in
# is random per process, so nothing signed with it can be forged or outlives a restart; in
# DEBUG a fixed key keeps development sessions valid across restarts.
SECRET_KEY_SET = bool(env_secret("SECRET_KEY"))
SECRET_KEY = env_secret("SECRET_KEY") or ("dev-only-insecure-key" if DEBUG else secrets.token_urlsafe(50))
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "sandbox",
    "sandbox.terminal",
    "accounts",
    "lessons",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sandbox.urls"
ASGI_APPLICATION = "sandbox.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "frontend" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "sqlite:///db.sqlite3")
DATABASES = {"default": database_from_url(DATABASE_URL, base_dir=BASE_DIR)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "lessons:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "frontend" / "static"]
STATIC_ROOT = BASE_DIR / ".static"
# Serve /static/ from the ASGI app itself: right for the embedded default, while a production
# deployment puts a web server or CDN in front and sets SERVE_STATIC=0.
SERVE_STATIC = env_bool("SERVE_STATIC", True)

SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Redis: Celery broker and Channels layer -------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
# "memory" is only correct for one process (tests, a single embedded server): the in-memory
# layer cannot reach consumers in another process.
CHANNEL_LAYER = env_str("CHANNEL_LAYER", "redis")
CHANNEL_LAYERS: dict[str, dict[str, Any]]
if CHANNEL_LAYER == "memory":
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # A read timeout above channels-redis's 5 s blocking pop: with redis-py 8 the default
            # made every idle WebSocket's receive fail after 5 s (tests/cluster/test_channel_layer.py).
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}]},
        }
    }

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is redelivered, not lost
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Redis redelivers an unacknowledged task after this long (the sweep catches up sooner).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 600}
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- The Kubernetes cluster ---------------------------------------------------------------------
# The platform only ever reaches the cluster through a kubeconfig, so the same code serves the
# local control plane, kind, or a remote cluster.
# The operator's kubeconfig: a ServiceAccount with only the rights provisioning needs, written
# by `manage.py sandbox install` (which `make cluster` runs).
CLUSTER_KUBECONFIG = Path(env_str("CLUSTER_KUBECONFIG", str(BASE_DIR / ".cluster" / "operator.kubeconfig")))
# A cluster admin's kubeconfig, used only to install the operator and the shared objects (and by
# the tests). `make cluster` writes the local cluster's here.
CLUSTER_ADMIN_KUBECONFIG = Path(env_str("CLUSTER_ADMIN_KUBECONFIG", str(BASE_DIR / ".cluster" / "kubeconfig")))
# The read-only checker's kubeconfig (live view, lesson checks), also written by the install.
CLUSTER_CHECKER_KUBECONFIG = Path(
    env_str("CLUSTER_CHECKER_KUBECONFIG", str(BASE_DIR / ".cluster" / "checker.kubeconfig"))
)
# Empty means "the kubectl built with the local control plane".
KUBECTL = env_str("KUBECTL", "")
CLUSTER_REQUEST_TIMEOUT = env_int("CLUSTER_REQUEST_TIMEOUT", 10, minimum=1)
# A real worker node (containerd, kubelet, kube-proxy) beside kwok's fake ones in the local
# cluster, so that Pods run real containers (sandbox/cluster/node.py). Needs root. Off until it
# is proven in CI; with it off the local cluster is exactly the simulated one.
LOCAL_REAL_NODE = env_bool("LOCAL_REAL_NODE", False)

# --- Sandboxes ----------------------------------------------------------------------------------
SANDBOX_NAMESPACE_PREFIX = env_str("SANDBOX_NAMESPACE_PREFIX", "sbx-")
SANDBOX_DEFAULT_SIZE = env_str("SANDBOX_DEFAULT_SIZE", "small")
# Ready, unassigned namespaces kept so that "Start" is instant.
SANDBOX_POOL_SIZE = env_int("SANDBOX_POOL_SIZE", 2, minimum=0)
SANDBOX_IDLE_MINUTES = env_int("SANDBOX_IDLE_MINUTES", 60, minimum=1)
SANDBOX_LIFETIME_HOURS = env_int("SANDBOX_LIFETIME_HOURS", 8, minimum=1)
SANDBOX_TOKEN_MINUTES = env_int("SANDBOX_TOKEN_MINUTES", 60, minimum=10)
# NodePorts handed out one per sandbox; must lie inside the API server's service-node-port-range.
SANDBOX_NODEPORT_RANGE = env_str("SANDBOX_NODEPORT_RANGE", "30100-32767")
SANDBOX_SWEEP_SECONDS = env_int("SANDBOX_SWEEP_SECONDS", 60, minimum=5)

# Lessons: where their folders are, the registry their images come from ("" = Docker Hub, as in
# the article), and whether pages reload a lesson whose files changed (development).
LESSONS_DIR = BASE_DIR / env_str("LESSONS_DIR", "lessons/content")  # relative to the project
LESSONS_IMAGE_REGISTRY = env_str("LESSONS_IMAGE_REGISTRY", "")
LESSONS_RELOAD = env_bool("LESSONS_RELOAD", DEBUG)
# How long after the last change in a sandbox its open lesson is checked again.
LESSONS_CHECK_DEBOUNCE_MS = env_int("LESSONS_CHECK_DEBOUNCE_MS", 400, minimum=0)

CELERY_BEAT_SCHEDULE = {
    "sandbox-lifecycle": {"task": "sandbox.tasks.sweep", "schedule": float(SANDBOX_SWEEP_SECONDS)},
}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
