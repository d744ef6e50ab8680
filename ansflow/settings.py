"""AnsFlow settings.

This is the only module that reads the environment. With nothing set, the
embedded default runs: a SQLite file and a bundled Redis server on a unix socket,
both under ``ANSFLOW_DATA_DIR``. Production sets ``DATABASE_URL``, ``REDIS_URL``,
``SECRET_KEY``, ``DEBUG=0`` and ``ALLOWED_HOSTS``.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# --- Core -------------------------------------------------------------------

# The embedded default is a local installation bound to loopback, so it runs in
# debug mode; production sets DEBUG=0, which turns every HTTPS protection on.
DEBUG = env.bool("DEBUG", default=True)

DATA_DIR = Path(env.str("ANSFLOW_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if key:
        return key
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG=0.")
    # Embedded default: one random key per data directory, kept across restarts.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()


def _credential_keys() -> list[tuple[str, str]]:
    """Master keys for credential encryption, ``id:fernet-key`` pairs, the first used for new rows."""
    raw = env.str("ANSFLOW_CREDENTIAL_KEYS", default="")
    if not raw:
        if not DEBUG:
            raise ImproperlyConfigured("ANSFLOW_CREDENTIAL_KEYS must be set when DEBUG=0.")
        # Embedded default: one random key per data directory, kept across restarts.
        path = DATA_DIR / "credential_keys"
        if not path.exists():
            key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            path.write_text(f"k1:{key}\n")
            path.chmod(0o600)
        raw = ",".join(path.read_text().split())
    pairs = []
    for item in raw.split(","):
        key_id, sep, key = item.strip().partition(":")
        if not sep or not key_id or not key:
            raise ImproperlyConfigured("ANSFLOW_CREDENTIAL_KEYS: expected comma-separated id:key pairs.")
        pairs.append((key_id, key))
    return pairs


CREDENTIAL_KEYS = _credential_keys()
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "channels",
    "axes",
    "django_celery_beat",
    "ansflow",
    "apps.accounts",
    "apps.k8s_integration",
    "apps.pipelines",
    "apps.executions",
]

MIDDLEWARE = [
    "ansflow.middleware.RequestIdMiddleware",
    "ansflow.middleware.BodySizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "ansflow.urls"
ASGI_APPLICATION = "ansflow.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'ansflow.sqlite3'}")}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write
        # lock at BEGIN so two writers never deadlock upgrading a read lock.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
    }
    # The test database is a file, so the Celery worker and ASGI server that
    # the test suite starts as subprocesses see the same rows.
    _db["TEST"] = {"NAME": str(DATA_DIR / "test-ansflow.sqlite3")}
elif _db["ENGINE"] in ("django.db.backends.mysql",):
    _db.setdefault("OPTIONS", {})
    _db["OPTIONS"].setdefault("charset", "utf8mb4")
    _db["OPTIONS"].setdefault("init_command", "SET sql_mode='STRICT_TRANS_TABLES'")
    _db["OPTIONS"].setdefault("isolation_level", "read committed")
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
_db["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
# A Celery pool process keeps its connection from task to task for this many seconds (ansflow/celery.py
# checks it before each task, so a connection the server dropped is replaced), instead of one per task.
WORKER_DB_CONN_MAX_AGE = env.int("ANSFLOW_WORKER_DB_CONN_MAX_AGE", default=300)
# Each HTTP request in Django holds a thread and a database connection: a web process lets this many in at
# once and queues the rest (ansflow/concurrency.py), so N processes use at most N x this many connections.
WEB_MAX_CONCURRENT_REQUESTS = env.int("ANSFLOW_WEB_MAX_CONCURRENT_REQUESTS", default=32)
_db["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: Celery broker and Channels layer --------------------------------

REDIS_EMBEDDED_SOCKET = DATA_DIR / "redis.sock"
REDIS_URL = env.str("REDIS_URL", default=f"unix://{REDIS_EMBEDDED_SOCKET}")
# True when the run command must start the bundled Redis server itself.
REDIS_EMBEDDED = not env.str("REDIS_URL", default="")


def _celery_broker_url(url: str) -> str:
    """Celery spells a unix-socket Redis URL ``redis+socket://``."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"redis+socket://{parts.path}" + (f"?virtual_host={q}" if (q := _db_number(parts.query)) else "")
    return url


def _db_number(query: str) -> str:
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == "db" and value:
            return value
    return ""


CELERY_BROKER_URL = _celery_broker_url(REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = False  # the database row is the truth; the reaper re-sends what was lost
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}
CELERY_IMPORTS = ["ansflow.health"]
# Celery's Django fix-up closes every database connection around every task unless this is set; it then
# closes them only every this many tasks, and ansflow/celery.py recycles them by age and health instead.
CELERY_DB_REUSE_MAX = 1000

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": REDIS_URL,
                    # redis-py 8 sets a 5 s socket timeout that breaks idle receives.
                    "socket_timeout": None,
                    # After a Redis restart every pooled connection is dead: retry on a new one
                    # (the pub/sub connection re-subscribes its channels when it reconnects).
                    "retry": AsyncRetry(ExponentialBackoff(cap=2.0, base=0.05), 10),
                    "retry_on_error": [RedisConnectionError, ConnectionResetError, BrokenPipeError],
                    "health_check_interval": 15,
                }
            ]
        },
    }
}

# --- Auth and security -------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
AUTHENTICATION_BACKENDS = [
    # Refuses logins while a username + address pair is locked out, then the normal check.
    "apps.accounts.backends.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Every HTTPS protection is on in production (DEBUG=0); each can be turned off
# by the environment for a deployment that terminates TLS elsewhere.
_https = not DEBUG
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=_https)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if _https else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=_https)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=_https)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=_https)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=_https)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("SECURE_PROXY_SSL", default=False) else None
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "ansflow.api.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2 * 1024 * 1024)

# --- REST API -----------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
        "rest_framework.filters.SearchFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ansflow.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "AnsFlow API",
    "DESCRIPTION": "Pipelines, executions, credentials and clusters.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "ansflow.openapi.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ExecutionStatusEnum": "apps.executions.choices.ExecutionStatus",
        "StepStatusEnum": "apps.executions.choices.StepStatus",
        "TriggerKindEnum": "apps.pipelines.triggers.models.TriggerKind",
        "TriggerOutcomeEnum": "apps.pipelines.triggers.models.EventOutcome",
        "NotificationTargetKindEnum": "apps.executions.notifications.choices.TargetKind",
        "DeliveryStatusEnum": "apps.executions.notifications.choices.DeliveryStatus",
    },
}

# --- Static files --------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# htmx comes from npm (package.json, installed by `make run` / `make test` with `npm ci`).
STATICFILES_DIRS = [BASE_DIR / "static", ("htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist")]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Logging: JSON lines with the request id -----------------------------------

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "ansflow.logging.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}

# --- AnsFlow -------------------------------------------------------------------

# Where `manage.py serve` listens, and how many steps one worker runs at once.
SERVE_HOST = env.str("ANSFLOW_HOST", default="127.0.0.1")
SERVE_PORT = env.int("ANSFLOW_PORT", default=8000)
WORKER_CONCURRENCY = env.int("ANSFLOW_WORKER_CONCURRENCY", default=2)

# Seconds each /readyz dependency check may take before it counts as failed.
READYZ_TIMEOUT = env.float("READYZ_TIMEOUT", default=2.0)

# --- Engine --------------------------------------------------------------------

# A running step's worker writes a heartbeat every interval; the reaper marks a
# step `lost` when its heartbeat is older than the timeout.
HEARTBEAT_INTERVAL = env.float("ANSFLOW_HEARTBEAT_INTERVAL", default=0.5)
HEARTBEAT_TIMEOUT = env.float("ANSFLOW_HEARTBEAT_TIMEOUT", default=10.0)
REAPER_INTERVAL = env.float("ANSFLOW_REAPER_INTERVAL", default=5.0)
# How often a worker's main process ends the processes of steps whose pool process died.
ORPHAN_SWEEP_INTERVAL = env.float("ANSFLOW_ORPHAN_SWEEP_INTERVAL", default=1.0)
# A queued step whose message has not been claimed after this long is sent again.
REQUEUE_AFTER = env.float("ANSFLOW_REQUEUE_AFTER", default=30.0)
WORKSPACES_DIR = DATA_DIR / "workspaces"
# Hours a finished execution's workspace is kept (0: removed as soon as it finishes).
WORKSPACE_RETENTION_HOURS = env.float("ANSFLOW_WORKSPACE_RETENTION_HOURS", default=0)
CELERY_BEAT_SCHEDULE["ansflow-reaper"] = {"task": "executions.reap", "schedule": REAPER_INTERVAL}
# Days a finished execution's log lines are kept (0 keeps them forever).
LOG_RETENTION_DAYS = env.int("ANSFLOW_LOG_RETENTION_DAYS", default=90)
CELERY_BEAT_SCHEDULE["ansflow-log-retention"] = {"task": "executions.cleanup_logs", "schedule": 3600.0}
# The helm (v3) binary that helm steps run: a path, or a name looked up on the worker's PATH.
# `make k8s-cluster` unzips Helm 3 into .venv/tools; elsewhere `helm` on PATH.
_bundled_helm = BASE_DIR / ".venv" / "tools" / "helm"
HELM_BINARY = env.str("ANSFLOW_HELM_BINARY", default=str(_bundled_helm) if _bundled_helm.is_file() else "helm")

# --- Metrics ---------------------------------------------------------------------

# GET /metrics answers a scraper that sends `Authorization: Bearer <ANSFLOW_METRICS_TOKEN>`,
# or one whose address is in ANSFLOW_METRICS_ALLOW (addresses or networks; loopback by
# default in the embedded mode, nobody in production).
METRICS_TOKEN = env.str("ANSFLOW_METRICS_TOKEN", default="")
METRICS_ALLOW = env.list("ANSFLOW_METRICS_ALLOW", default=["127.0.0.1/32", "::1/128"] if DEBUG else [])

# --- Notifications ---------------------------------------------------------------

# Email targets send through Django's mail settings, read from EMAIL_URL:
# smtp://user:password@host:587 (smtp+tls:// for STARTTLS, smtps:// for TLS), or consolemail:// to print.
_email = env.email_url("EMAIL_URL", default="smtp://localhost:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="ansflow@localhost")
# The address people open AnsFlow at: links in notifications point there.
BASE_URL = env.str("ANSFLOW_BASE_URL", default=f"http://{SERVE_HOST}:{SERVE_PORT}").rstrip("/")
# A delivery is tried this many times; attempt n+1 waits BACKOFF * 2**(n-1) seconds (at most an hour).
NOTIFICATION_ATTEMPTS = env.int("ANSFLOW_NOTIFICATION_ATTEMPTS", default=5)
NOTIFICATION_BACKOFF = env.float("ANSFLOW_NOTIFICATION_BACKOFF", default=10.0)
# An attempt still `sending` after this many seconds lost its worker: the reaper records it failed and
# retries it per the policy above (well above the 10 s HTTP and EMAIL_TIMEOUT limits of one send).
NOTIFICATION_SENDING_TIMEOUT = env.float("ANSFLOW_NOTIFICATION_SENDING_TIMEOUT", default=300.0)
# Days delivery attempts are kept (0 keeps them forever); older ones are deleted hourly.
NOTIFICATION_RETENTION_DAYS = env.int("ANSFLOW_NOTIFICATION_RETENTION_DAYS", default=90)
CELERY_BEAT_SCHEDULE["ansflow-notification-retention"] = {
    "task": "executions.cleanup_notifications",
    "schedule": 3600.0,
}
