# Sourced by run.sh and test.sh: makes .venv (Python 3.11) and installs the project into it.
# Re-installs only when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-}"
python_bin="$(command -v python3.11 || command -v python3)"
"$python_bin" -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12)), "Python 3.11 or 3.12 needed"'
if [ ! -x .venv/bin/python ]; then
  "$python_bin" -m venv .venv
fi
stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)${extras:+-$extras}"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
  touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

# The viewer bundle (frontend/viewer -> frontend/static/viewer): rebuilt when it is missing or its
# sources or package-lock.json changed since the last build. Needs Node 20+ and npm.
viewer_stamp="frontend/static/viewer/.build-$(cat frontend/viewer/package-lock.json frontend/viewer/vite.config.js \
  $(find frontend/viewer/src -type f | sort) | sha256sum | cut -c1-16)"
if [ ! -f "$viewer_stamp" ] || [ ! -f frontend/static/viewer/manifest.json ]; then
  if command -v npm >/dev/null 2>&1; then
    (cd frontend/viewer && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
    touch "$viewer_stamp"
  else
    echo "warning: npm not found; the browser pages need the viewer bundle (npm ci && npm run build in frontend/viewer)" >&2
  fi
fi
