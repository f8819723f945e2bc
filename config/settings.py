"""Django settings. Every value that differs between machines comes from the environment
through the strict readers in config.env; `.env.example` lists them all, and the system
checks in sandbox.checks report what is missing or unsafe."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
from django.utils.translation import gettext_lazy as _

from config.env import (
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_rate,
    env_secret,
    env_str,
    real_node_mode,
)
from sandbox.cluster.nodeconfig import NODE_IP

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
    "axes",
    "sandbox",
    "sandbox.terminal",
    "accounts",
    "lessons",
    "classroom",
    "dashboard",
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
    # Last, as django-axes asks: it turns a refused login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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
                "accounts.context_processors.roles",
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
# The lockout check comes first and refuses a locked-out login before any password is checked.
AUTHENTICATION_BACKENDS = ["accounts.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
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
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30, "socket_connect_timeout": 5}],
                "channel_capacity": {
                    # Every page's snapshot and every lesson check asks the one watcher on this
                    # channel (sandbox/liveview/answers.py): a whole class at once must fit.
                    "liveview.requests.*": 2000,
                    # Every socket of one process shares one Redis key ("specific.<process>!"),
                    # and a group send to a key at its capacity is dropped without a word: at the
                    # default 100, a busy web process lost a class's sandbox states and events.
                    # Each socket's own backlog stays bounded in the process (capacity, 100).
                    "specific.*": 20000,
                },
            },
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
# Workers and beat ride out a restarted or briefly missing Redis: they reconnect with Celery's
# growing pauses for as long as it takes, at start-up too, instead of exiting.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None

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
# The prober's kubeconfig (lesson checks' HTTP requests through the API server's proxy), also
# written by the install.
CLUSTER_PROBER_KUBECONFIG = Path(env_str("CLUSTER_PROBER_KUBECONFIG", str(BASE_DIR / ".cluster" / "prober.kubeconfig")))
# The kubectl the terminal and the platform run. The default is a link that `manage.py cluster
# up` makes to the kubectl built with the local control plane (its version matches the cluster).
KUBECTL = Path(env_str("KUBECTL", "") or str(BASE_DIR / ".cluster" / "bin" / "kubectl"))
# The program every terminal kubectl starts through (sandbox/terminal/launch.c): it enters the
# student's resource group, sets the process's limits and drops to the session's user in one
# exec. `make deps` compiles it there.
TERMINAL_LAUNCHER = Path(env_str("TERMINAL_LAUNCHER", "") or str(BASE_DIR / ".build" / "terminal-launch"))
# kubectl's cache (discovery, OpenAPI schemas) that `manage.py sandbox install` warms and every new
# terminal session gets a copy of, so that no student's first kubectl discovers the API itself.
TERMINAL_KUBECTL_CACHE = Path(env_str("TERMINAL_KUBECTL_CACHE", "") or str(BASE_DIR / ".cluster" / "kubectl-cache"))
CLUSTER_REQUEST_TIMEOUT = env_int("CLUSTER_REQUEST_TIMEOUT", 10, minimum=1)
# The development cluster: "local" (built from upstream Go modules), "local-sim" (the same with
# kwok's simulated nodes only) or "kind" (sandbox/cluster/__init__.py).
CLUSTER = env_str("CLUSTER", "local")
# The local cluster's real worker node (containerd, kubelet, kube-proxy beside kwok's fake nodes,
# sandbox/cluster/node.py), so that Pods run real containers. "auto": wherever this machine can
# run it (root, the kernel features, the packages), else the simulated nodes only, after saying
# what is missing; "require": no cluster without it (`make test`); "off": simulated nodes only,
# as CLUSTER=local-sim asks. 1 and 0 mean require and off.
LOCAL_REAL_NODE = real_node_mode(env_str("LOCAL_REAL_NODE", "auto"), CLUSTER)

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
# Where the web server reaches the nodes' NodePorts for the NodePort link (sandbox/terminal/
# nodeport.py): by default the local real node's address; on kind, a node container's address.
SANDBOX_NODEPORT_HOST = env_str("SANDBOX_NODEPORT_HOST", NODE_IP if CLUSTER == "local" else "")

# The terminal: one resource group (cgroup) per student on the web host holds every process of
# all their terminals (sandbox/terminal/ceiling.py). Memory in MiB, processes and threads, and a
# CPU weight (100 = an ordinary group; 1..10000). The groups live under TERMINAL_CGROUP_PARENT in
# each cgroup hierarchy ("off": no groups, per-process limits only); by default one parent per
# namespace prefix, so two installations (or the test suite) on one host never share a group.
TERMINAL_MEMORY_MB = env_int("TERMINAL_MEMORY_MB", 512, minimum=64)
TERMINAL_PROCESSES = env_int("TERMINAL_PROCESSES", 1024, minimum=16)
TERMINAL_CPU_WEIGHT = env_int("TERMINAL_CPU_WEIGHT", 100, minimum=1)
# ...and a hard cap in percent of one core (0: none): a student's terminals never take more.
TERMINAL_CPU_PERCENT = env_int("TERMINAL_CPU_PERCENT", 100, minimum=0)
TERMINAL_CGROUP_PARENT = env_str(
    "TERMINAL_CGROUP_PARENT", "k8s-sandbox-terminals/" + (SANDBOX_NAMESPACE_PREFIX.strip("-") or "default")
)

# Lessons: where their folders are, the registry their images come from ("" = Docker Hub, as in
# the article), and whether pages reload a lesson whose files changed (development).
LESSONS_DIR = BASE_DIR / env_str("LESSONS_DIR", "lessons/content")  # relative to the project
LESSONS_IMAGE_REGISTRY = env_str("LESSONS_IMAGE_REGISTRY", "")
LESSONS_RELOAD = env_bool("LESSONS_RELOAD", DEBUG)
# How long after the last change in a sandbox its open lesson is checked again.
LESSONS_CHECK_DEBOUNCE_MS = env_int("LESSONS_CHECK_DEBOUNCE_MS", 400, minimum=0)
# How long a page's snapshot or a lesson check waits for the watcher's answer from its caches
# before it reads from the API server instead (no watcher running, or it is still listing);
# three times as long when the watcher answered in the last 5 s (sandbox/liveview/ask.py).
LIVEVIEW_WATCHER_TIMEOUT_MS = env_int("LIVEVIEW_WATCHER_TIMEOUT_MS", 1000, minimum=1)

# --- Limits for a class (README "Running it for a class"); 0 turns a limit off ----------------
# Client addresses are REMOTE_ADDR, or behind this many reverse proxies, the X-Forwarded-For
# entry the outermost of them wrote (sandbox/client_address.py).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0, minimum=0)
# Accounts created from one client address per window.
SIGNUP_LIMIT = env_int("SIGNUP_LIMIT", 30, minimum=0)
SIGNUP_WINDOW_MINUTES = env_int("SIGNUP_WINDOW_MINUTES", 60, minimum=1)
# Failed logins before a lockout: per account, and per client address over all accounts (higher:
# a class may share one address). The lockout ends this long after the failure that caused it.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=0)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env_int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 30, minimum=0)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1)
# Sandboxes one student may start per window (getting back a live one does not count).
SANDBOX_START_LIMIT = env_int("SANDBOX_START_LIMIT", 10, minimum=0)
SANDBOX_START_WINDOW_MINUTES = env_int("SANDBOX_START_WINDOW_MINUTES", 60, minimum=1)
# Students' live sandboxes on the whole platform; beyond it students wait in line. Warm-pool
# namespaces (no owner yet) do not count: the cluster holds at most this + SANDBOX_POOL_SIZE.
SANDBOX_MAX_LIVE = env_int("SANDBOX_MAX_LIVE", 50, minimum=0)
# A student in line whose page has not asked for news for this long has left; they lose their place.
SANDBOX_QUEUE_TIMEOUT_SECONDS = env_int("SANDBOX_QUEUE_TIMEOUT_SECONDS", 180, minimum=30)

# django-axes, adapted in accounts/lockout.py: it counts failures in the database (shared by
# every process, listed in the admin) by account and by address.
AXES_ENABLED = LOGIN_FAILURE_LIMIT > 0
AXES_FAILURE_LIMIT = "accounts.lockout.failure_limit"
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # order matters to accounts.lockout
AXES_HANDLER = "accounts.lockout.ClassroomHandler"
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
# Guesses during a lockout are not counted, so the lockout ends when it said it would.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.address_for_axes"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False
# Successful logins are not logged: the table would only grow, and the limits need the failures.
AXES_DISABLE_ACCESS_LOG = True
# --- The page's WebSocket: limits per student -----------------------------------------------
# Messages per user and kind, as COUNT/SECONDS token buckets shared by all of the user's sockets
# (kept in Redis, so every web process counts against the same bucket). Over the limit, the
# socket answers {"type": "error", "code": "rate_limited", "kind", "retry_after", "message"}.
SOCKET_RATES: dict[str, tuple[int, float]] = {
    "lesson.reset": env_rate("SOCKET_RATE_LESSON_RESET", "3/60"),
    "lesson.open": env_rate("SOCKET_RATE_LESSON_OPEN", "20/60"),
    "lesson.hint": env_rate("SOCKET_RATE_LESSON_HINT", "20/60"),
    "lesson.check": env_rate("SOCKET_RATE_LESSON_CHECK", "30/60"),
    "lesson.step": env_rate("SOCKET_RATE_LESSON_STEP", "20/60"),  # lesson.skip and lesson.reset_step
    "cluster.subscribe": env_rate("SOCKET_RATE_CLUSTER_SUBSCRIBE", "20/60"),
    "terminal.run": env_rate("SOCKET_RATE_TERMINAL_RUN", "60/10"),
    "terminal.keys": env_rate("SOCKET_RATE_TERMINAL_KEYS", "600/10"),  # input, interrupt, resize
    "other": env_rate("SOCKET_RATE_OTHER", "30/60"),  # ping and anything else
}
# Refusals answered per socket (COUNT/SECONDS); past them a refused message is dropped without
# an answer (a page never gets there), so a flood gets no answers to wait for.
SOCKET_REFUSALS_ANSWERED = env_rate("SOCKET_REFUSALS_ANSWERED", "50/10")
# Socket messages of one user being handled at once (across their sockets, per web process);
# more are refused with the same error rather than queued.
SOCKET_IN_FLIGHT_PER_USER = env_int("SOCKET_IN_FLIGHT_PER_USER", 4, minimum=1)
# Threads that run the socket handlers' database and cluster calls (each may hold a database
# connection), so one student's slow calls never hold up everyone else's.
SOCKET_THREADS = env_int("SOCKET_THREADS", 8, minimum=2)

# --- Classes ----------------------------------------------------------------------------------
# Wrong join codes allowed per user and per address as COUNT/SECONDS (a sliding window); past
# it every try is refused, right or wrong, until old failures leave the window. Checked by
# system check classroom.E001.
CLASS_JOIN_FAILURE_LIMIT = env_str("CLASS_JOIN_FAILURE_LIMIT", "10/900")

CELERY_BEAT_SCHEDULE = {
    "sandbox-lifecycle": {"task": "sandbox.tasks.sweep", "schedule": float(SANDBOX_SWEEP_SECONDS)},
}

LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    # django-axes logs every successful login at INFO; failures and lockouts are warnings.
    "loggers": {"axes": {"level": "WARNING"}},
}
