#!/usr/bin/env bash
# The project's test command: bash scripts/test.sh [pytest args...]
#
# 1. Installs what the tests need when it is missing: Debian's docker.io (dockerd 20.10,
#    the engine the tests start privately), busybox-static (the base image's only binary)
#    and prometheus (promtool); a virtualenv (.venv, or $VENV) with `pip install -e '.[test]'`.
# 2. Runs every check, even after a failure: ruff format --check, ruff check, mypy,
#    lint-imports (the import contracts in pyproject.toml), pytest.
#    Exits non-zero if any of them failed.
#
# The pytest suite starts its own dockerd on a private data root, socket and exec root
# (tests/dockerlab.py); it needs root and never touches /var/lib/docker or the default socket.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

APT_PACKAGES=(docker.io busybox-static prometheus)
VENV=${VENV:-.venv}

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing Debian packages: ${APT_PACKAGES[*]} (missing: ${missing[*]})"
    if [ "$(id -u)" -ne 0 ]; then
        echo "ERROR: apt-get needs root; install ${missing[*]} first" >&2
        exit 1
    fi
    # Keep package scripts from starting services (a system dockerd on /var/lib/docker,
    # prometheus): the tests start their own private dockerd.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtualenv $VENV"
    python3 -m venv "$VENV"
fi
stamp="$VENV/.docker-inspector-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "==> pip install -e '.[test]'"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -e '.[test]'
    echo "$want" >"$stamp"
fi

status=0
check() {
    echo "==> $*"
    if ! "$@"; then
        echo "FAILED: $*" >&2
        status=1
    fi
}
check "$VENV/bin/ruff" format --check .
check "$VENV/bin/ruff" check .
check "$VENV/bin/mypy"
check "$VENV/bin/lint-imports"
check "$VENV/bin/pytest" "$@"
if [ "$status" -ne 0 ]; then
    echo "==> some checks failed" >&2
fi
exit "$status"
