# The two commands a user needs: `make demo` and `make test`. See README.md for the others.
PYTHON_BOOT ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

.PHONY: install demo test test-fast fuzz lint fmt migrations-check bench bench-scale bench-tools browsers media-tools clean messages

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# Runs the product on SQLite with inline tasks: no database or Redis server needed.
# The platform clients talk to the local sandboxes the demo starts (devtools/sandboxes/); the demo
# changes no setting itself.
DEMO_ENV := \
	CELERY_TASK_LOG_LEVEL=WARNING \
	WECHAT_API_BASE=http://127.0.0.1:8101 \
	WECHAT_MP_BASE=http://127.0.0.1:8101 \
	WEIBO_API_BASE=http://127.0.0.1:8102 \
	WEIBO_MESSAGES_API_BASE=http://127.0.0.1:8102 \
	WEIBO_APP_KEY=sandbox-app-key \
	WEIBO_APP_SECRET=sandbox-app-secret \
	WECHATPAY_API_BASE=http://127.0.0.1:8103 \
	WECHAT_OAUTH_BASE=http://127.0.0.1:8103 \
	WECHAT_OAUTH_API_BASE=http://127.0.0.1:8103 \
	SMS_PROVIDER=tencent \
	TENCENT_SMS_API_BASE=http://127.0.0.1:8104 \
	TENCENT_SMS_SECRET_ID=AKIDsandboxDemo0000000000000000000 \
	TENCENT_SMS_SECRET_KEY=sandbox-demo-sms-secret-key-0000 \
	TENCENT_SMS_SDK_APP_ID=1400000000 \
	TENCENT_SMS_SIGN_NAME=演示品牌 \
	TENCENT_SMS_TEMPLATE_ID=100000

demo: install media-tools
	$(DEMO_ENV) $(PY) -m devtools.demo $(DEMO_ARGS)

# The whole suite against real PostgreSQL and Redis (found or started by tests/services.py).
test: install browsers media-tools
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/lint-imports
	$(PY) tests/services.py $(VENV)/bin/pytest -n 2 -p no:cacheprovider $(PYTEST_ARGS)

# The suite without the browser tests, for a quick loop.
test-fast: install media-tools
	$(PY) tests/services.py $(VENV)/bin/pytest -n 2 -m "not browser" $(PYTEST_ARGS)

# The long fuzz runs: the webhook parsers (hypothesis) and the API against its OpenAPI schema
# (schemathesis), no 5xx allowed. `make test` runs the same tests with few examples.
fuzz: install
	FUZZ_RANDOM=1 FUZZ_EXAMPLES=5000 API_FUZZ_EXAMPLES=200 $(PY) tests/services.py $(VENV)/bin/pytest -n 2 -p no:cacheprovider tests/security/test_fuzz.py tests/security/test_api_fuzz.py

lint: install
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

bench: install bench-tools
	$(PY) tests/services.py $(PY) -m bench $(BENCH_ARGS)

# The webhook benchmark drives its connections with wrk when installed (Python threads, which
# take a core for themselves, otherwise): install it if missing.
bench-tools:
	@command -v wrk >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq wrk >/dev/null) ; } || \
	  echo "the webhook benchmark is fairer with wrk: apt-get install wrk"

# Ingestion throughput with 10,000,000 messages in the table against 100,000 (loads 10M rows:
# about half an hour on 2 cores; its own database, crm_bench_scale, unless BENCH_DB_NAME is set).
bench-scale: install
	BENCH_DB_NAME=$${BENCH_DB_NAME:-crm_bench_scale} $(PY) tests/services.py $(PY) -m bench scaling $(BENCH_ARGS)

# Browser tests drive the system Chromium (no browser download): install it if missing.
browsers:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null) ; } || \
	  echo "browser tests need Chromium: apt-get install chromium"

# Voice messages (AMR/Speex) are converted for browsers with ffmpeg: install it if missing.
media-tools:
	@command -v ffmpeg >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq ffmpeg >/dev/null) ; } || \
	  echo "voice messages need ffmpeg: apt-get install ffmpeg"

messages:
	$(PY) manage.py compilemessages -l zh_Hans --ignore=".venv/*"

clean:
	rm -rf var/crm.sqlite3 var/static
