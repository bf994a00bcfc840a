#!/usr/bin/env bash
# Set up and run the whole platform on this machine (embedded default): SQLite, local files,
# a Redis server, a Celery worker per queue (cpu, gpu), the web server on http://127.0.0.1:8000; the demo
# model trains in the background.
# Ctrl-C stops everything it started.
set -euo pipefail
# An explicit (empty) extras argument: otherwise the sourced script would see this script's options.
source "$(dirname "$0")/setup-env.sh" ""
# Its own Redis port, so a system Redis on 6379 is left alone.
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6389/0}"
exec python manage.py run_embedded "$@"
