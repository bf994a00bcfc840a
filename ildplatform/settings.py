"""Settings from environment variables, with safe defaults for the embedded single-machine setup."""

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, WASM_UNSAFE_EVAL
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
# Everything the embedded default writes (SQLite, media, Redis data) lives under one folder.
VAR_DIR = Path(os.environ.get("ILD_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


DEBUG = _env_bool("DEBUG", False)


# An installation that ran before its de-identification salt was random has a secret key but no salt.
_FROM_BEFORE_RANDOM_SALT = (VAR_DIR / "secret_key").exists() and not (VAR_DIR / "deidentify_salt").exists()


def _installation_secret(name: str, *, kept_value: str | None = None) -> str:
    """A random value made once per installation and kept under var/, for when the environment sets none
    (or `kept_value`, for an installation whose earlier data were derived from it)."""
    path = VAR_DIR / name
    if not path.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "x", encoding="ascii") as handle:  # "x": a concurrent first start keeps one value
                handle.write(kept_value or secrets.token_urlsafe(50))
            path.chmod(0o600)
        except FileExistsError:
            pass
    return path.read_text(encoding="ascii").strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _installation_secret("secret_key")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

# Production behind a TLS-terminating proxy (HTTPS=true): cookies only over HTTPS, HSTS, http redirected.
HTTPS = _env_bool("HTTPS", False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = _env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", True)
    # /healthz answers the load balancer's plain-HTTP probe on the inside
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp), everywhere: the pages load only their own scripts; the DICOM
# codecs are WebAssembly ('wasm-unsafe-eval') run in the image loader's web workers.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, WASM_UNSAFE_EVAL],
        "worker-src": [SELF, "blob:"],
        "img-src": [SELF, "data:", "blob:"],
        "style-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "axes",
    "ildplatform",
    "annotations",
    "inference",
    "interop",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out login
]

ROOT_URLCONF = "ildplatform.urls"
WSGI_APPLICATION = "ildplatform.wsgi.application"
ASGI_APPLICATION = "ildplatform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context_processors.navigation",
            ],
        },
    },
]

# PostgreSQL connections are kept for DB_CONN_MAX_AGE seconds (a new one per request forks a server
# process: measured the largest cost of a small request), checked before each request is served, so a
# restarted server costs one reconnect and no error.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}",
        conn_max_age=_env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # A file (not :memory:) so that a Celery worker process sees the test database too;
    # WAL and a busy timeout let the web server and the worker write side by side.
    DATABASES["default"].setdefault("TEST", {})["NAME"] = str(VAR_DIR / "test-db.sqlite3")
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one user name from one
# address, that pair is locked out for AXES_COOLOFF_MINUTES, in the browser (429) and on the token API.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = _env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=_env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Object storage (S3 or an S3-compatible store such as MinIO) when several hosts share the files:
# django-storages, installed with the `s3` extra.
if os.environ.get("S3_BUCKET"):
    STORAGES["default"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ["S3_BUCKET"],
            "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("S3_REGION") or None,
            "access_key": os.environ.get("S3_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("S3_SECRET_ACCESS_KEY") or None,
            "file_overwrite": False,  # a name taken gets a suffix, as on the local folder
            "default_acl": None,
            "querystring_auth": True,
        },
    }
# Vite names its files name-<hash>.js; WhiteNoise may cache them forever.
WHITENOISE_IMMUTABLE_FILE_TEST = r"^.+[.-][0-9a-zA-Z_-]{8,12}\..+$"

REST_FRAMEWORK = {
    # Token first, so that an unauthenticated request gets 401 with a WWW-Authenticate header.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested deeper than the API ever takes is refused before it is decoded (ildplatform/parsing.py).
    "DEFAULT_PARSER_CLASSES": [
        "ildplatform.parsing.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "ildplatform.routing.ApiSchema",
    "EXCEPTION_HANDLER": "ildplatform.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ILD review platform API",
    "DESCRIPTION": "Blinded dual reading, adjudication and involvement of SSc-ILD chest CT",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
}

# Celery: Redis is the broker; the Job row in the database is what the browser reads.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A task not acknowledged within this time (its worker died) is delivered again.
    "visibility_timeout": _env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    # A worker killed while restoring such tasks holds this lock until it expires.
    "unacked_mutex_expire": _env_int("CELERY_UNACKED_MUTEX_EXPIRE", 300),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# DICOM import limits (bytes); over them the request is refused with 413/400 and nothing is stored.
IMPORT_MAX_UPLOAD_BYTES = _env_int("IMPORT_MAX_UPLOAD_BYTES", 2 * 1024**3)
# The address users and DICOMweb clients reach the site by: absolute URLs in DICOMweb answers (RetrieveURL,
# BulkDataURI) start with it, never with the request's Host header. run_embedded sets it to its address.
PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
IMPORT_MAX_ARCHIVE_UNCOMPRESSED_BYTES = _env_int("IMPORT_MAX_ARCHIVE_UNCOMPRESSED_BYTES", 4 * 1024**3)
IMPORT_MAX_ARCHIVE_MEMBERS = _env_int("IMPORT_MAX_ARCHIVE_MEMBERS", 20000)
IMPORT_MAX_ARCHIVE_COMPRESSION_RATIO = _env_int("IMPORT_MAX_ARCHIVE_COMPRESSION_RATIO", 100)
# A WADO-RS frame lookup (where the frames lie in the file, whether the token may read them) is reused by
# a web worker for this long: a viewer asks for a series' frames in a burst. So a revoked token or a
# deleted series is still served by a worker that has just served it, for at most this long. 0: never.
DICOMWEB_FRAME_LOOKUP_SECONDS = _env_int("DICOMWEB_FRAME_LOOKUP_SECONDS", 5)
# Reader noise (MDC95) is reported once this many series have been read by both readers; fewer, and the
# trend says the band is not yet estimable.
READER_NOISE_MIN_SERIES = _env_int("READER_NOISE_MIN_SERIES", 10)
# Keys the deterministic pseudonyms and replacement UIDs; keep it constant for a deployment so that
# re-importing the same study maps to the same patient and series, and secret, or a pseudonym can be
# recomputed from a public patient ID. Installations from before it was random keep the old public value
# (their pseudonyms must keep matching); a system check warns about it.
PUBLIC_DEIDENTIFY_SALT = "ildplatform-embedded"
DEIDENTIFY_SALT = os.environ.get("DEIDENTIFY_SALT") or _installation_secret(
    "deidentify_salt", kept_value=PUBLIC_DEIDENTIFY_SALT if _FROM_BEFORE_RANDOM_SALT else None
)
DATA_UPLOAD_MAX_NUMBER_FILES = _env_int("DATA_UPLOAD_MAX_NUMBER_FILES", 5000)
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024**2

# LOG_FORMAT=json: one JSON object per line (python-json-logger), for the log collector in production.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if os.environ.get("LOG_FORMAT") == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"pydicom": {"level": "ERROR"}},
}

# The lung method of new lung masks (`lung3d`, the 3-D pathology-inclusive default, or `mader2d`, the
# paper's 2-D algorithm); a series can be recomputed with the other one.
LUNG_METHOD = os.environ.get("LUNG_METHOD", "lung3d")
if LUNG_METHOD not in ("lung3d", "mader2d"):
    raise ImproperlyConfigured(f"LUNG_METHOD must be lung3d or mader2d, got {LUNG_METHOD!r}")
# The float32 CPU paths a worker measures for each U-Net (inference/runtime.py) and chooses among.
UNET_CPU_PATHS = tuple(
    path.strip() for path in os.environ.get("UNET_CPU_PATHS", "tensorflow,tensorflow-sub-pixel,onnxruntime").split(",")
)
_UNET_PATHS_KNOWN = {"tensorflow", "tensorflow-sub-pixel", "onnxruntime"}  # inference/runtime.PATHS
if not set(UNET_CPU_PATHS) <= _UNET_PATHS_KNOWN or "tensorflow" not in UNET_CPU_PATHS:
    raise ImproperlyConfigured(
        f"UNET_CPU_PATHS names tensorflow and optionally tensorflow-sub-pixel and onnxruntime, got {UNET_CPU_PATHS}"
    )
# How long an inference job waits for the lung masks a lung masks job is computing on another worker
# before it computes them itself (a worker killed mid-job leaves its job "running").
LUNG_MASKS_WAIT_SECONDS = float(os.environ.get("LUNG_MASKS_WAIT_SECONDS", "600"))
# A series is flagged when more than this share of the dense lung tissue lies outside its lung masks.
LUNG_QC_DENSE_MISSED_LIMIT = float(os.environ.get("LUNG_QC_DENSE_MISSED_LIMIT", "0.05"))
# ... or when more than this share of its lung volume is non-lung air (stomach, bowel gas, trachea).
LUNG_QC_NON_LUNG_AIR_LIMIT = float(os.environ.get("LUNG_QC_NON_LUNG_AIR_LIMIT", "0.01"))
