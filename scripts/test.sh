#!/usr/bin/env bash
# Set up and run the whole test suite. Redis and Celery workers are started by the tests themselves;
# set DATABASE_URL to run on PostgreSQL (CI does), otherwise SQLite is used.
set -euo pipefail
source "$(dirname "$0")/setup-env.sh" test,dev
exec python -m pytest "$@"
