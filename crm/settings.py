"""Settings for the whole project, read from the environment.

With no environment at all the project runs on an SQLite file with Celery tasks executed inline
and a local-memory cache, so a checkout runs with no services (`make demo`). `DATABASE_URL` and
`REDIS_URL` switch to PostgreSQL and Redis, which is how tests, benchmarks and production run.
Every variable is listed, with its default, in `.env.example`.
"""

import ipaddress
import os
import re
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_bool(name: str, default: bool = False) -> bool:
    """A yes/no variable: 1/true/yes/on or 0/false/no/off (any case); unset or empty: `default`.

    Anything else raises ImproperlyConfigured naming the variable: `CELERY_TASK_ALWAYS_EAGER=ture`
    read as false would quietly send tasks to a broker nobody runs.
    """
    value = os.environ.get(name, "").strip().lower()
    if value == "":
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={os.environ[name]!r} is not a yes/no value: use one of "
        f"{', '.join(sorted(_TRUE | _FALSE))}"
    )


def env_int(name: str, default: int) -> int:
    """A whole-number variable; unset or empty: `default`. Anything else raises
    ImproperlyConfigured naming the variable."""
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number") from None


def env_float(name: str, default: float) -> float:
    """A number variable; unset or empty: `default`. Anything else raises ImproperlyConfigured
    naming the variable."""
    value = os.environ.get(name, "").strip()
    if value == "":
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_networks(name: str) -> list[str]:
    """Comma-separated IP addresses or networks (CIDR), each checked."""
    items = env_list(name)
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an IP address or network."
            ) from None
    return items


def env_ssl_header(name: str) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER from a header name (`X-Forwarded-Proto`), meaning "https"."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if not re.fullmatch(r"[A-Za-z0-9-]+", value):
        raise ImproperlyConfigured(
            f"{name} must be a header name such as X-Forwarded-Proto, not {value!r}."
        )
    return ("HTTP_" + value.upper().replace("-", "_"), "https")


# The development key is public: `manage.py check --deploy` refuses it (crm.checks).
DEV_SECRET_KEY = "django-insecure-dev-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
# Key for secrets stored at rest (app secrets, tokens, AES keys). Falls back to a key derived
# from SECRET_KEY so a development checkout works; production sets its own (crm.checks warns).
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The public base URL of this installation, used in links sent to customers (self-service pages).
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000")

INSTALLED_APPS = [
    "daphne",  # first: `runserver` serves ASGI (the live inbox's socket), as the demo needs
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crm",
    "members",
    "channels_wechat",
    "channels_weibo",
    "dashboards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "crm.security.SecurityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"
# The live inbox (crm.live): its socket needs the ASGI server; events cross processes through
# Redis, or stay in the one process of a checkout without Redis (the demo's runserver).
ASGI_APPLICATION = "crm.asgi.application"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [os.environ.get("REDIS_URL", "")],
            "prefix": "crm-asgi" + os.environ.get("PYTEST_XDIST_WORKER", ""),
        },
    }
    if os.environ.get("REDIS_URL")
    else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.admin_site",
            ],
        },
    },
]

if not os.environ.get("DATABASE_URL"):
    (BASE_DIR / "var").mkdir(exist_ok=True)  # the default SQLite file lives there
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'crm.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {})
    # The demo runs the web server, the sandboxes' pushes and the inline tasks at once.
    DATABASES["default"]["OPTIONS"].update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The hot statements (the webhooks' INSERT, routing's pick) are prepared once per PostgreSQL
# connection (crm.prepared). Behind a pooler that hands each transaction another server
# connection (PgBouncer in transaction mode) a session's PREPARE is not there for its EXECUTE:
# set DB_PREPARED_STATEMENTS=0 and they run as plain SQL.
DB_PREPARED_STATEMENTS = env_bool("DB_PREPARED_STATEMENTS", True)

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "crm")
            + os.environ.get("PYTEST_XDIST_WORKER", ""),
            # The webhooks read the account's version before storing: a Redis that hangs must
            # fail fast, as one that is down does, and the push still be stored (crm.ingestion).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
MEDIA_URL = "/media/"

# Chat media (pictures, voice, video of inbox messages): private files served only through the
# inbox's permission-checked view. Local files outside MEDIA_ROOT by default; MEDIA_STORAGE=s3
# stores them in any S3-compatible store (django-storages) named by the AWS_* variables, with
# no public ACL.
MEDIA_STORAGE = os.environ.get("MEDIA_STORAGE", "local")
CHAT_MEDIA_ROOT = Path(os.environ.get("CHAT_MEDIA_ROOT", BASE_DIR / "var" / "chat_media"))
if MEDIA_STORAGE == "s3":
    CHAT_MEDIA_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("AWS_STORAGE_BUCKET_NAME", ""),
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "location": os.environ.get("AWS_LOCATION", "chat"),
            "default_acl": "private",
            "file_overwrite": False,
        },
    }
elif MEDIA_STORAGE == "local":
    CHAT_MEDIA_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(CHAT_MEDIA_ROOT), "base_url": "/no-public-url/"},
    }
else:
    raise ImproperlyConfigured(f"MEDIA_STORAGE must be local or s3, not {MEDIA_STORAGE!r}")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "chat_media": CHAT_MEDIA_STORAGE,
}

# Production: DEBUG off and a real SECRET_KEY. Its defaults are the HTTPS-only ones that
# `manage.py check --deploy` asks for (tests/security/test_access.py runs it).
PRODUCTION = not DEBUG and SECRET_KEY != DEV_SECRET_KEY
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers probe the health check over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind a TLS proxy: the header it sets to say the request came over HTTPS. Unset, no header
# is believed (a client could send one itself); set it only if the proxy overwrites that header.
SECURE_PROXY_SSL_HEADER = env_ssl_header("SECURE_PROXY_SSL_HEADER")
# Addresses/networks of the reverse proxies in front of the web processes. A request from one
# of them is attributed to the right-most X-Forwarded-For address that is not one of them
# (crm.security.client_ip); from anywhere else X-Forwarded-For is ignored.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
X_FRAME_OPTIONS = "DENY"
# Admin login rate limiting (crm.security), within the window (seconds): failures per
# (username, client address), and per client address whatever the username.
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env_int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", 20)
LOGIN_FAILURE_WINDOW = env_int("LOGIN_FAILURE_WINDOW", 900)
# API request bodies above this size are refused with 413 (crm.security).
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
# Signed pushes (WeChat, Weibo fan service) older or newer than this many seconds are refused
# with 403: a replay window (0 turns it off). WeChat retries within about 15 s.
WEBHOOK_MAX_AGE = env_int("WEBHOOK_MAX_AGE", 300)
# Seconds an agent stays online without a heartbeat from their inbox page (crm.models.teams).
INBOX_PRESENCE_TTL = env_int("INBOX_PRESENCE_TTL", 60)
# How far back (hours) a reconnecting inbox page can catch up on live events (crm.live): older
# events are pruned hourly, and a page that was away longer reloads.
INBOX_EVENT_RETENTION_HOURS = env_int("INBOX_EVENT_RETENTION_HOURS", 24)
# Raw deliveries a drain processes in one transaction (crm.ingestion; WeChat pushes).
RAW_DELIVERY_BATCH_SIZE = env_int("RAW_DELIVERY_BATCH_SIZE", 500)
# At most this many drains of one source run side by side when there is a backlog (set it to
# the worker processes that should share the work).
RAW_DELIVERY_DRAINS = env_int("RAW_DELIVERY_DRAINS", 2)
# Seconds a drain keeps looking after it cleared its flag, and so how long a web process's
# pushes skip the flag after one saw it (crm.ingestion): a burst costs the hooks one Redis
# round trip a process every this long instead of one a push. 0 with inline tasks (the demo).
RAW_DELIVERY_DRAIN_LINGER = env_float("RAW_DELIVERY_DRAIN_LINGER", 0.5)
# Seconds a drain lets a short batch's successor gather before taking it (crm.ingestion): at
# most this much latency for batches large enough to be cheap. 0 with inline tasks.
RAW_DELIVERY_BATCH_WAIT = env_float("RAW_DELIVERY_BATCH_WAIT", 0.1)
# Webhook bodies are bounded by the hooks themselves (1 MiB); the form limit stays Django's.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crm.api.permissions.RolePermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.Pagination",
    # Actions refuse with Django's ValidationError; this makes it a field-level 400.
    "EXCEPTION_HANDLER": "crm.api.errors.api_exception_handler",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PARSER_CLASSES": [
        "crm.security.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["crm.security.TokenRateThrottle", "crm.security.AnonThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_THROTTLE_RATE", "6000/hour"),
        "anon": os.environ.get("API_ANON_THROTTLE_RATE", "3000/hour"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Social CRM API",
    "DESCRIPTION": "One customer record across Weibo and WeChat.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "crm.models.Channel",
        "ConversationStatusEnum": "crm.models.ConversationStatus",
        # Several models have a `kind`; the template list's is named after its model.
        "MessageTemplateKindEnum": "channels_wechat.models.MessageTemplate.Kind",
    },
}

# Celery: Redis broker when REDIS_URL is set; otherwise tasks run inline in the caller.
# CELERY_BROKER_URL may name another Redis for the broker (the cache stays on REDIS_URL).
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_SOFT_TIME_LIMIT = 120
CELERY_TASK_TIME_LIMIT = 180
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker that is down must not hang a webhook: publishing gives up fast and the sweep
# re-enqueues what was stored.
# Without max_retries kombu retries the connection for ~6 s, past WeChat's 5 s: one retry and
# a refused connection gives up in 0.1 s (measured by tests/faults).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_TASK_PUBLISH_RETRY = False
# Chat media downloads go to their own queue when CHAT_MEDIA_QUEUE names one (then run a worker
# with `-Q <name>`), so downloading pictures never holds up the processing of messages; unset,
# they share the default queue.
CHAT_MEDIA_QUEUE = os.environ.get("CHAT_MEDIA_QUEUE", "")
CELERY_TASK_ROUTES = (
    {
        "channels_wechat.tasks.download_media_task": {"queue": CHAT_MEDIA_QUEUE},
        "channels_wechat.tasks.download_media_batch_task": {"queue": CHAT_MEDIA_QUEUE},
        "channels_wechat.tasks.sweep_media_task": {"queue": CHAT_MEDIA_QUEUE},
    }
    if CHAT_MEDIA_QUEUE
    else {}
)
CELERY_TIMEZONE = TIME_ZONE
# Every entry must name a registered task: tests/crm/test_platform.py checks it.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "refresh-segment-counts": {
        "task": "crm.tasks.refresh_segment_counts_task",
        "schedule": crontab(minute="*/30"),
    },
    "rebuild-attribution-nightly": {
        "task": "dashboards.tasks.rebuild_attribution_task",
        "schedule": crontab(hour=1, minute=50),
    },
    "snapshot-kpis-nightly": {
        "task": "dashboards.tasks.snapshot_kpis_task",
        "schedule": crontab(hour=2, minute=10),
    },
    "journey-tick": {
        "task": "crm.tasks.journey_tick_task",
        "schedule": 60.0,
    },
    "check-sla-breaches": {
        "task": "crm.tasks.check_sla_breaches_task",
        "schedule": 60.0,
    },
    "prune-inbox-events": {
        "task": "crm.tasks.prune_inbox_events_task",
        "schedule": crontab(minute=40),
    },
    "expire-agent-presence": {
        "task": "crm.tasks.expire_presence_task",
        "schedule": 30.0,
    },
    "sweep-raw-deliveries": {
        "task": "crm.tasks.sweep_raw_deliveries_task",
        "schedule": 60.0,
    },
    "sweep-wechat-media": {
        "task": "channels_wechat.tasks.sweep_media_task",
        "schedule": 300.0,
    },
    "weibo-poll-accounts": {
        "task": "channels_weibo.tasks.poll_accounts_task",
        "schedule": crontab(minute="*/5"),
    },
    "weibo-follower-snapshots": {
        "task": "channels_weibo.tasks.snapshot_followers_task",
        "schedule": crontab(hour=23, minute=50),
    },
    "weibo-publish-scheduled-posts": {
        "task": "channels_weibo.tasks.publish_due_posts_task",
        "schedule": 60.0,
    },
    "members-expire-points": {
        "task": "members.tasks.expire_points_task",
        "schedule": crontab(hour=3, minute=0),
    },
    "members-recompute-tiers": {
        "task": "members.tasks.recompute_tiers_task",
        "schedule": crontab(hour=3, minute=30),
    },
    "wechat-send-due-mass-sends": {
        "task": "channels_wechat.tasks.send_due_mass_sends_task",
        "schedule": 60.0,
    },
    "wechat-push-tags": {
        "task": "channels_wechat.tasks.push_wechat_tags_task",
        "schedule": crontab(minute=20),
    },
    "members-expiring-coupon-notices": {
        "task": "members.tasks.send_expiring_coupon_messages_task",
        "schedule": crontab(hour=10, minute=0),
    },
    "wechat-send-template-messages": {
        "task": "channels_wechat.tasks.send_template_messages_task",
        "schedule": 60.0,
    },
    "members-reconcile-unpaid-orders": {
        "task": "members.tasks.reconcile_unpaid_orders_task",
        "schedule": crontab(minute="*/10"),
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "crm.logs.RedactSecrets"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # "Task ... succeeded" per task: a worker's log wants it; the demo (tasks inline, about
        # 1,000 lines while it loads) sets WARNING so its banner is not lost in them.
        "celery.app.trace": {"level": os.environ.get("CELERY_TASK_LOG_LEVEL", "INFO")},
    },
}

# Sandboxes and platform hosts: production points these at the real platforms.
# How long a worker holds a batch of journey action steps before another may take it over.
JOURNEY_LEASE_SECONDS = int(os.environ.get("JOURNEY_LEASE_SECONDS", "600"))
WECHAT_API_BASE = os.environ.get("WECHAT_API_BASE", "https://api.weixin.qq.com")
# showqrcode (channel QR code images) is served from mp.weixin.qq.com, not the API host.
WECHAT_MP_BASE = os.environ.get("WECHAT_MP_BASE", "https://mp.weixin.qq.com")
WEIBO_API_BASE = os.environ.get("WEIBO_API_BASE", "https://api.weibo.com")
WECHATPAY_API_BASE = os.environ.get("WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com")
PLATFORM_HTTP_TIMEOUT = env_float("PLATFORM_HTTP_TIMEOUT", 5.0)
# Openids per `message/mass/send` call (WeChat allows at most 10,000).
WECHAT_MASS_BATCH_SIZE = int(os.environ.get("WECHAT_MASS_BATCH_SIZE", "10000"))
# WeChat OAuth for the member self-service pages (open.weixin.qq.com authorize, api sns/oauth2).
WECHAT_OAUTH_BASE = os.environ.get("WECHAT_OAUTH_BASE", "https://open.weixin.qq.com")
WECHAT_OAUTH_API_BASE = os.environ.get("WECHAT_OAUTH_API_BASE", "https://api.weixin.qq.com")
# Membership: points earned per whole yuan paid; days before earned points expire.
MEMBERS_POINTS_PER_YUAN = env_int("MEMBERS_POINTS_PER_YUAN", 1)
MEMBERS_POINTS_VALID_DAYS = env_int("MEMBERS_POINTS_VALID_DAYS", 365)
# Days before a coupon expires that its owner is reminded (the daily expiring-coupon notice).
MEMBERS_COUPON_EXPIRY_NOTICE_DAYS = env_int("MEMBERS_COUPON_EXPIRY_NOTICE_DAYS", 3)
# Seconds a worker holds a template send it is making; after that a run takes it over (the
# worker died) and sends it again with the same client_msg_id, which WeChat sends once.
WECHAT_TEMPLATE_LEASE_SECONDS = env_int("WECHAT_TEMPLATE_LEASE_SECONDS", 120)
# Minutes a member card QR code is accepted at the till; the card page fetches a fresh one before.
MEMBERS_CARD_CODE_MINUTES = env_int("MEMBERS_CARD_CODE_MINUTES", 5)
# SMS verification codes on the member join page (members.sms): `tencent` (Tencent Cloud SMS,
# SendSms 2021-01-11; TENCENT_SMS_API_BASE points at devtools/sandboxes/sms.py in the demo) or
# `sandbox` (codes kept in the cache, nothing sent).
SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "tencent")
TENCENT_SMS_API_BASE = os.environ.get("TENCENT_SMS_API_BASE", "https://sms.tencentcloudapi.com")
TENCENT_SMS_SECRET_ID = os.environ.get("TENCENT_SMS_SECRET_ID", "")
TENCENT_SMS_SECRET_KEY = os.environ.get("TENCENT_SMS_SECRET_KEY", "")
TENCENT_SMS_SDK_APP_ID = os.environ.get("TENCENT_SMS_SDK_APP_ID", "")
TENCENT_SMS_SIGN_NAME = os.environ.get("TENCENT_SMS_SIGN_NAME", "")
TENCENT_SMS_TEMPLATE_ID = os.environ.get("TENCENT_SMS_TEMPLATE_ID", "")
# Weibo: the OAuth app that brand accounts authorise (connect flow), and the fan-service API host
# (m.api.weibo.com in production; the same host as WEIBO_API_BASE when that points at a sandbox).
WEIBO_APP_KEY = os.environ.get("WEIBO_APP_KEY", "")
WEIBO_APP_SECRET = os.environ.get("WEIBO_APP_SECRET", "")
WEIBO_MESSAGES_API_BASE = os.environ.get("WEIBO_MESSAGES_API_BASE") or (
    "https://m.api.weibo.com" if WEIBO_API_BASE == "https://api.weibo.com" else WEIBO_API_BASE
)
# Private-message media (`2/mss/msget`) is on upload.api.weibo.com (the sandbox's host otherwise).
WEIBO_UPLOAD_API_BASE = os.environ.get("WEIBO_UPLOAD_API_BASE") or (
    "https://upload.api.weibo.com" if WEIBO_API_BASE == "https://api.weibo.com" else WEIBO_API_BASE
)
