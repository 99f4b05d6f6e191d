#!/usr/bin/env bash
# The production-shaped stack on this machine: gunicorn (WhiteNoise for static files) on PostgreSQL
# and Redis, with django-q2 task clusters beside it. Stops everything on Ctrl-C or SIGTERM.
#
#   WEB_WORKERS (2)  gunicorn worker processes      Q_CLUSTERS (1) × Q_WORKERS (2) task workers
#   DATABASE_URL     default postgres://postgres@127.0.0.1:5432/agentops_serve (created if missing)
#   REDIS_URL        default redis://127.0.0.1:6379/0
set -euo pipefail
cd "$(dirname "$0")/.."
host=${1:-127.0.0.1}
port=${2:-8001}
py=.venv/bin/python
mkdir -p var

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/agentops_serve}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
export DEBUG=${DEBUG:-false}
export ENVIRONMENT=${ENVIRONMENT:-local-production}
export ALLOWED_HOSTS=${ALLOWED_HOSTS:-127.0.0.1,localhost}
export STATIC_MANIFEST=true
export LOG_FORMAT=${LOG_FORMAT:-json}
export DB_POOL_MAX_SIZE=${DB_POOL_MAX_SIZE:-4}
# Plain HTTP on the loopback: no TLS redirect or HSTS here (a real deployment terminates TLS in front).
export SECURE_SSL_REDIRECT=${SECURE_SSL_REDIRECT:-false}
export SECURE_HSTS_SECONDS=${SECURE_HSTS_SECONDS:-0}
if [ -z "${SECRET_KEY:-}" ]; then
  [ -s var/serve-secret ] || $py -c "import secrets; print(secrets.token_urlsafe(50))" > var/serve-secret
  SECRET_KEY=$(cat var/serve-secret)
  export SECRET_KEY
fi
# With DEBUG off nothing is derived from SECRET_KEY and /metrics needs a token (agentops/settings.py):
# unless the environment gives them, the stack makes its own once and keeps them in var/.
keep_secret() {  # keep_secret NAME FILE PYTHON-EXPRESSION
  if [ -z "${!1:-}" ]; then
    [ -s "$2" ] || $py -c "import secrets; from cryptography.fernet import Fernet; print($3)" > "$2"
    export "$1=$(cat "$2")"
  fi
}
keep_secret AGENTOPS_ENCRYPTION_KEYS var/serve-encryption-key "Fernet.generate_key().decode()"
keep_secret AGENTOPS_BLIND_INDEX_KEY var/serve-blind-index-key "secrets.token_urlsafe(32)"
keep_secret AGENTOPS_AUDIT_REDACTION_KEY var/serve-audit-redaction-key "secrets.token_urlsafe(32)"
keep_secret METRICS_TOKEN var/serve-metrics-token "secrets.token_urlsafe(32)"
# Callbacks need an allow-list of receivers when DEBUG is off; name them, or the stack polls only.
if [ -z "${AGENTOPS_CALLBACK_HOSTS:-}" ]; then export AGENTOPS_CALLBACKS=${AGENTOPS_CALLBACKS:-false}; fi

$py - <<'PY'
import os
from urllib.parse import urlsplit

import psycopg

url = urlsplit(os.environ["DATABASE_URL"])
if url.scheme.startswith("postgres"):
    name = url.path.lstrip("/")
    admin = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
PY
$py manage.py migrate --no-input -v0
$py manage.py collectstatic --no-input -v0

pids=()
# Each process runs in a process group of its own (setsid), so stopping waits for its children too:
# a task cluster's workers can outlive their parent for a moment, and would otherwise be orphaned.
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Workers finish the task in hand; whoever is still there after 20 s is killed.
  for _ in $(seq 1 20); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap stop EXIT INT TERM

for n in $(seq 1 "${Q_CLUSTERS:-1}"); do
  Q_WORKERS=${Q_WORKERS:-2} setsid $py manage.py qcluster >"var/serve-qcluster-$n.log" 2>&1 &
  pids+=($!)
done
setsid .venv/bin/gunicorn agentops.wsgi:application --bind "$host:$port" --workers "${WEB_WORKERS:-2}" \
  --access-logfile - --graceful-timeout 10 --timeout 60 >var/serve-web.log 2>&1 &
pids+=($!)

echo "AgentOps (production-shaped) on http://$host:$port/  — PostgreSQL ${DATABASE_URL##*@}, Redis ${REDIS_URL##*//}"
echo "web log var/serve-web.log, task logs var/serve-qcluster-*.log; stop with Ctrl-C"
wait -n "${pids[@]}"
