#!/usr/bin/env bash
# Shared setup for scripts/demo and scripts/test: fping from Debian, a virtualenv in .venv
# with cloudperf installed editable. Safe to run again; it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v fping >/dev/null 2>&1 && [ -z "${CLOUDPERF_FPING:-}" ]; then
  echo "== installing fping (apt-get)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fping >/dev/null
fi

extras="${1:-}"
# The CDK app (extra "infra") synthesizes through jsii, which runs on Node.js.
if [[ ",$extras," == *",infra,"* ]] && ! command -v node >/dev/null 2>&1; then
  echo "== installing Node.js (apt-get) for CDK synthesis"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null
fi
# The console's browser tests (extra "dev") drive Debian's chromium through Playwright
# (Playwright's own browser download is not used).
if [[ ",$extras," == *",dev,"* ]] && ! command -v chromium >/dev/null 2>&1; then
  echo "== installing chromium (apt-get) for the console's browser tests"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
stamp=".venv/.installed${extras:+-$extras}"
if [ -z "$extras" ]; then
  # The plain package is part of every install: any up-to-date install will do.
  for s in .venv/.installed*; do
    if [ -f "$s" ] && [ ! pyproject.toml -nt "$s" ]; then stamp="$s"; fi
  done
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing cloudperf${extras:+[$extras]} into .venv"
  if ! { .venv/bin/python -m pip install --upgrade pip &&
         .venv/bin/python -m pip install -e ".${extras:+[$extras]}"; } > .venv/pip.log 2>&1; then
    tail -40 .venv/pip.log >&2
    echo "pip install failed; full log in .venv/pip.log" >&2
    exit 1
  fi
  touch "$stamp"
fi
