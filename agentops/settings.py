"""AgentOps settings, read from the environment (django-environ).

The defaults give the embedded demo: SQLite and the django-q2 ORM broker, nothing else running.
``DATABASE_URL`` switches to PostgreSQL, ``REDIS_URL`` switches the task broker to Redis.
With ``DEBUG=false`` the process refuses to start without a real SECRET_KEY and ALLOWED_HOSTS.
"""

from __future__ import annotations

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from agentops.settings_checks import (
    SettingsError,
    validate_base_url,
    validate_callback_secret,
    validate_production_secrets,
    validate_production_settings,
)

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))

DEMO_SECRET_KEY = "django-insecure-agentops-demo-key-not-for-production"  # noqa: S105 - refused unless DEBUG

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=DEMO_SECRET_KEY if DEBUG else "")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
ENVIRONMENT = env.str("ENVIRONMENT", default="demo" if DEBUG else "production")

try:
    validate_production_settings(debug=DEBUG, secret_key=SECRET_KEY, allowed_hosts=ALLOWED_HOSTS)
except SettingsError as exc:
    raise ImproperlyConfigured(str(exc)) from exc

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "simple_history",
    "taskruns",
    "agentops",
    "audit",
    "scoring",
    "sales",
    "support",
    "approvals",
    "notifications",
    "connectors",
    "operations",
    "security",
    "privacy",
    "consent",
]

MIDDLEWARE = [
    "audit.logs.CorrelationIdMiddleware",
    "operations.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "security.middleware.SecurityHeadersMiddleware",
    "security.middleware.NulByteGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "security.middleware.SessionTimeoutMiddleware",
    "security.middleware.ApiOnlyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "agentops.urls"
WSGI_APPLICATION = "agentops.wsgi.application"

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
                "agentops.context_processors.environment",
                "agentops.context_processors.navigation",
                "agentops.context_processors.kill_switches",
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server and the task worker read while the other writes; the busy
    # timeout makes a writer wait for the lock instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
elif (_pool_max := env.int("DB_POOL_MAX_SIZE", default=0)) > 0:
    # psycopg 3's connection pool, one per process (gunicorn worker, task worker); it replaces
    # persistent connections, so CONN_MAX_AGE must stay 0. Behind pgbouncer leave it off.
    if DATABASES["default"]["CONN_MAX_AGE"]:
        raise ImproperlyConfigured("DB_POOL_MAX_SIZE and CONN_MAX_AGE cannot both be set: pick one")
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": env.int("DB_POOL_MIN_SIZE", default=1),
        "max_size": _pool_max,
        "timeout": env.int("DB_POOL_TIMEOUT", default=10),
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "var" / "static"))
# WhiteNoise serves the collected static files from each web process; with STATIC_MANIFEST
# (make serve, production) names carry content hashes so browsers may cache them for a year.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env.bool("STATIC_MANIFEST", default=False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media"))

# Security (docs/security.md). Cookies are Secure outside DEBUG, HttpOnly and SameSite=Lax; HTTPS is
# enforced with a redirect and HSTS in production (behind a TLS-terminating proxy, set
# SECURE_PROXY_SSL_HEADER_NAME so Django sees the original scheme). Health probes stay on plain HTTP.
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
if _proxy_header := env.str("SECURE_PROXY_SSL_HEADER_NAME", default=""):
    # e.g. HTTP_X_FORWARDED_PROTO: only when the proxy always sets (and strips clients') header.
    SECURE_PROXY_SSL_HEADER = (_proxy_header, "https")
# Sessions end after this long without a request (sliding), and this long after sign-in whatever the
# activity (security.middleware.SessionTimeoutMiddleware).
SESSION_IDLE_MINUTES = env.int("SESSION_IDLE_MINUTES", default=30)
SESSION_MAX_HOURS = env.int("SESSION_MAX_HOURS", default=12)
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
# Sign-in guessing (security/signin.py): free failures per username from one address, per address,
# and per username from anywhere (past which a new address gets none); then each failure doubles the
# wait before the next attempt is checked, up to LOGIN_MAX_DELAY_MINUTES. Nobody is locked out.
# LOGIN_LOCK_MINUTES (the old hard lock's length) is still read as the longest wait's default.
LOGIN_MAX_FAILURES = env.int("LOGIN_MAX_FAILURES", default=5)
LOGIN_MAX_FAILURES_PER_ADDRESS = env.int("LOGIN_MAX_FAILURES_PER_ADDRESS", default=20)
LOGIN_MAX_FAILURES_PER_USERNAME = env.int("LOGIN_MAX_FAILURES_PER_USERNAME", default=50)
LOGIN_FAILURE_WINDOW_MINUTES = env.int("LOGIN_FAILURE_WINDOW_MINUTES", default=15)
LOGIN_MAX_DELAY_MINUTES = env.int(
    "LOGIN_MAX_DELAY_MINUTES", default=env.int("LOGIN_LOCK_MINUTES", default=15)
)
LOGIN_KNOWN_ADDRESS_DAYS = env.int("LOGIN_KNOWN_ADDRESS_DAYS", default=30)
# Approving an item of these risk levels needs the password proved within the last REAUTH_MINUTES.
REAUTH_RISK_LEVELS = env.list("REAUTH_RISK_LEVELS", default=["high", "critical"])
REAUTH_MINUTES = env.int("REAUTH_MINUTES", default=10)
# API keys (security.ApiKey): default lifetime, default per-key rate, and how long a rotated key works.
API_KEY_DEFAULT_DAYS = env.int("API_KEY_DEFAULT_DAYS", default=90)
API_KEY_RATE_PER_MINUTE = env.int("API_KEY_RATE_PER_MINUTE", default=600)
API_KEY_ROTATION_OVERLAP_HOURS = env.int("API_KEY_ROTATION_OVERLAP_HOURS", default=24)

REST_FRAMEWORK = {
    # API keys for integrations; the browser's session; basic auth under the sign-in lock-out.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "security.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "security.authentication.LockedBasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "security.permissions.HasScope",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["security.throttling.ApiKeyRateThrottle"],
    # DRF's defaults, with a JSON parser that answers 400 to a nesting bomb instead of crashing.
    "DEFAULT_PARSER_CLASSES": [
        "core.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "core.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_VERSIONING_CLASS": None,
    # Application errors (core.errors.AppError) answer with their code and status, in one place.
    "EXCEPTION_HANDLER": "core.api.exceptions.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "AgentOps API",
    "DESCRIPTION": "Leads, tickets, proposed actions and model versions for integrations.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # UI assets come from the drf-spectacular-sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Action kinds and statuses appear in several components (list, detail, submission): one name each.
    "ENUM_NAME_OVERRIDES": {
        "ActionKindEnum": "approvals.choices.ActionKind",
        "ActionStatusEnum": "approvals.choices.ActionStatus",
        "ConsentChannelEnum": "consent.choices.Channel",
        "ConsentStatusEnum": "consent.choices.ConsentStatus",
    },
}

# Task queue: the ORM broker needs nothing running; REDIS_URL switches to Redis.
# django-q2 reads these once at import, so Q_SYNC must be set in the environment before start-up.
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER: dict[str, object] = {
    "name": "agentops",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": env.int("Q_TIMEOUT", default=600),
    "retry": env.int("Q_RETRY", default=720),
    "max_attempts": 3,
    "queue_limit": 100,
    "bulk": 10,
    "catch_up": False,
    "sync": env.bool("Q_SYNC", default=False),
    "label": "Tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
    # One cache shared by every web process and worker (the queue's counts, for one).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    Q_CLUSTER["orm"] = "default"

# How many outbox runs the scheduled executor task starts at once (each a task on a worker; their
# claims are disjoint). 1 leaves the other task workers free for schedules; raise it with Q_WORKERS.
AGENTOPS_EXECUTOR_SLOTS = env.int("AGENTOPS_EXECUTOR_SLOTS", default=1)

# Queue a decision-log sealer run as soon as an entry commits (debounced to one per few seconds);
# the every-minute schedule seals everything anyway, so turning this off only makes sealing lag more.
AUDIT_SEAL_ON_COMMIT = env.bool("AUDIT_SEAL_ON_COMMIT", default=True)

# The approval queue's counts are reused between page loads while no action changes, for at most
# this many seconds (SLA counts can lag by that much). 0 counts on every page load.
APPROVAL_QUEUE_FACETS_SECONDS = env.int("APPROVAL_QUEUE_FACETS_SECONDS", default=15)

LEAD_BULK_MAX_ROWS = env.int("LEAD_BULK_MAX_ROWS", default=10_000)
# Re-score changed leads in a background task after every upsert (when a champion model exists).
SCORING_AUTO_RESCORE = env.bool("SCORING_AUTO_RESCORE", default=True)

# Decision callbacks to integrations (POST /api/v1/actions/ with a callback_url), signed with
# HMAC-SHA256 of "<timestamp>.<body>" keyed with the proposing API key's own callback secret
# (docs/api.md). AGENTOPS_CALLBACKS=false turns them off (agents poll). Callbacks only go to public
# addresses; AGENTOPS_CALLBACK_HOSTS limits them to these hosts (each with its subdomains), and a host
# named in it exactly may be local (a developer's receiver on 127.0.0.1). With DEBUG off the list is
# required (unless callbacks are off) and callback URLs must be https.
AGENTOPS_CALLBACKS = env.bool("AGENTOPS_CALLBACKS", default=True)
AGENTOPS_CALLBACK_TIMEOUT = env.float("AGENTOPS_CALLBACK_TIMEOUT", default=5.0)
AGENTOPS_CALLBACK_MAX_ATTEMPTS = env.int("AGENTOPS_CALLBACK_MAX_ATTEMPTS", default=6)
AGENTOPS_CALLBACK_HOSTS = env.list("AGENTOPS_CALLBACK_HOSTS", default=[])
AGENTOPS_CALLBACK_HTTPS_ONLY = not DEBUG
try:
    validate_callback_secret(secret=env.str("AGENTOPS_CALLBACK_SECRET", default=""))
except SettingsError as exc:
    raise ImproperlyConfigured(str(exc)) from exc

# Connection credentials are stored encrypted (connectors/crypto.py): comma-separated Fernet keys, the
# first encrypts and all decrypt, so a key rotates by going first (then manage.py reencrypt_connections).
# Empty derives a key from SECRET_KEY with DEBUG on only; with DEBUG off start-up refuses (below).
AGENTOPS_ENCRYPTION_KEYS = env.list("AGENTOPS_ENCRYPTION_KEYS", default=[])
# Personal data (lead and ticket emails, phones, ticket text) is encrypted with the same keys
# (security/crypto.py; rotate with manage.py reencrypt_personal_data). Emails are looked up by a keyed
# HMAC "blind index": its key is separate from the encryption keys and does not rotate with them
# (changing it means recomputing the indexes). Empty derives one from SECRET_KEY with DEBUG on only.
AGENTOPS_BLIND_INDEX_KEY = env.str("AGENTOPS_BLIND_INDEX_KEY", default="")
# Personal values in the decision log are keyed HMACs (audit/redaction.py), so an exported log gives no
# address away to a dictionary. A secret of its own, never rotated (a new key gives new tokens from
# then on, and old entries keep theirs). Empty derives one from SECRET_KEY outside production.
AGENTOPS_AUDIT_REDACTION_KEY = env.str("AGENTOPS_AUDIT_REDACTION_KEY", default="")

# Email (approver notifications): EMAIL_URL picks the backend. The demo prints mail to the worker's
# console; production defaults to an SMTP server on localhost. For a real relay, e.g.
# EMAIL_URL=smtp+tls://user:password@smtp.example.com:587 (see docs/notifications.md).
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS", False))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL", False))
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="AgentOps <agentops@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Start of the links in notifications (the admin's notification settings may override it).
try:
    AGENTOPS_BASE_URL = validate_base_url(env.str("AGENTOPS_BASE_URL", default="http://127.0.0.1:8000"))
except SettingsError as exc:
    raise ImproperlyConfigured(str(exc)) from exc

# One-click Approve / Reject links in approvers' email (notifications/email_links.py) are signed with
# HMAC-SHA256 keyed with AGENTOPS_APPROVAL_LINK_SECRET (empty: derived from SECRET_KEY); how long they
# work is admin data (Notification settings › email link hours).
AGENTOPS_APPROVAL_LINK_SECRET = env.str("AGENTOPS_APPROVAL_LINK_SECRET", default="")
# Deciding in Slack (notifications/slack/, docs/notifications.md): the Slack app's bot token and
# signing secret; empty token: no cards are posted, empty secret: every interactivity request is
# refused. SLACK_API_URL is the Web API's base (our emulator in tests and the demo).
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")

# AgentOps's own mail answers back (connectors/mail/, docs/connectors.md "Our own mail"): each message's
# Reply-To is reply+<token>@AGENTOPS_REPLY_DOMAIN (the domain your inbound mail provider or MTA posts
# to /webhooks/mail/inbound/), its List-Unsubscribe mailto unsubscribe+<token>@ that domain. Tokens are
# HMACs keyed with AGENTOPS_MAIL_SECRET (empty: derived from SECRET_KEY). Inbound deliveries are signed
# with HMAC-SHA256 of the body keyed with AGENTOPS_INBOUND_MAIL_SECRET; empty refuses every delivery.
# An unsubscribe link works for AGENTOPS_UNSUBSCRIBE_MAX_AGE_DAYS after the message was sent.
AGENTOPS_REPLY_DOMAIN = env.str("AGENTOPS_REPLY_DOMAIN", default="reply.agentops.localhost")
AGENTOPS_MAIL_SECRET = env.str("AGENTOPS_MAIL_SECRET", default="")
AGENTOPS_INBOUND_MAIL_SECRET = env.str("AGENTOPS_INBOUND_MAIL_SECRET", default="")
AGENTOPS_UNSUBSCRIBE_MAX_AGE_DAYS = env.int("AGENTOPS_UNSUBSCRIBE_MAX_AGE_DAYS", default=365)
if AGENTOPS_UNSUBSCRIBE_MAX_AGE_DAYS < 30:
    # CAN-SPAM: an unsubscribe mechanism must work for at least 30 days after the message was sent.
    raise ImproperlyConfigured("AGENTOPS_UNSUBSCRIBE_MAX_AGE_DAYS must be at least 30")

# LOG_FORMAT=json for production: one JSON object per line with the correlation id.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, got {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "correlation": {"()": "audit.logs.CorrelationIdFilter"},
        "personal_data": {"()": "audit.logs.PersonalDataFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"},
        "json": {"()": "audit.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["correlation", "personal_data"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# /metrics (Prometheus): open when empty (DEBUG only); required with DEBUG off, give it to the scraper.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

# With DEBUG off nothing is derived or left open, whatever ENVIRONMENT says: the encryption and
# blind-index keys are set, /metrics has a token, callbacks have an allow-list (or are off).
try:
    validate_production_secrets(
        debug=DEBUG,
        encryption_keys=AGENTOPS_ENCRYPTION_KEYS,
        blind_index_key=AGENTOPS_BLIND_INDEX_KEY,
        metrics_token=METRICS_TOKEN,
        callbacks=AGENTOPS_CALLBACKS,
        callback_hosts=AGENTOPS_CALLBACK_HOSTS,
        audit_redaction_key=AGENTOPS_AUDIT_REDACTION_KEY,
    )
except SettingsError as exc:
    raise ImproperlyConfigured(str(exc)) from exc
# The OpenAPI document and its viewer are public in the demo only; with DEBUG off they need a
# signed-in user or an API key (captured here: the test runner turns DEBUG off at run time).
API_SCHEMA_PUBLIC = DEBUG
