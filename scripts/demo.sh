#!/usr/bin/env bash
# Starts a django-q2 worker and the web server for the demo, prints where to go and how to sign in,
# and stops the worker when the server stops (Ctrl-C).
set -euo pipefail
host=${1:-127.0.0.1}
port=${2:-8000}
py=.venv/bin/python
mkdir -p var

$py manage.py qcluster >var/qcluster.log 2>&1 &
worker=$!
trap 'kill $worker 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  AgentOps demo is starting on  http://$host:$port/

  Sign in as (password for all: agentops-demo):
    sdr.manager   SDR manager     — sales actions and leads
    support.lead  Support lead    — support handoffs and tickets
    ops.admin     Ops admin       — everything, and the Django admin at http://$host:$port/admin/
    auditor       Auditor         — reads everything, decides nothing, exports the decision log
    integrator    Integration     — proposes actions over the API (POST /api/v1/actions/), see docs/api.md

  API docs: http://$host:$port/api/docs/   Health: http://$host:$port/healthz
  Task worker log: var/qcluster.log   Stop with Ctrl-C.

MSG
exec_status=0
$py manage.py runserver --noreload "$host:$port" || exec_status=$?
exit $exec_status
