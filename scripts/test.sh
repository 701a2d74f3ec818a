#!/usr/bin/env bash
# The project's test command: bash scripts/test.sh [pytest args...]
#
# 1. Brings what the tests need, installing no service (nothing is enabled at boot):
#    - installs with apt-get, when missing: tmux (the TUI terminal test) and python3-venv;
#    - downloads and unpacks, never installs (apt-get download + dpkg -x, into
#      $DOCKER_INSPECTOR_TEST_TOOLS, default ~/.cache/docker-inspector/test-tools): Debian's
#      docker.io (dockerd 20.10 and its CLI), containerd, runc, tini, prometheus (promtool
#      only), busybox-static and libdevmapper: the tests start that dockerd privately, and
#      the host's own Docker, if any, is neither used nor touched;
#    - a virtualenv (.venv, or $VENV; a half-made one is made again) with
#      `pip install -e '.[test]'`.
# 2. Runs every check, even after a failure: ruff format --check, ruff check, mypy,
#    lint-imports (the import contracts in pyproject.toml), pytest.
#    Exits non-zero if any of them failed.
#
# DOCKER_INSPECTOR_SETUP_ONLY=1 stops after step 1 (scripts/fresh_debian.py uses it).
#
# The pytest suite starts its own dockerd on a private data root, socket and exec root
# (tests/dockerlab.py); it needs root and never touches /var/lib/docker or the default socket.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup-lib.sh
. scripts/setup-lib.sh

#: Installed with apt-get when missing. Only packages that ship no service (checked by
#: tests/test_setup_scripts.py); python3-venv comes through need_python.
APT_PACKAGES=(tmux)
VENV=${VENV:-.venv}

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    is_root || die "the tests need ${missing[*]}: install it (sudo apt-get install ${missing[*]}), or run this as root"
    echo "==> installing Debian packages: ${missing[*]} (apt-get; no service)"
    apt_install "${missing[@]}"
fi

DOCKER_INSPECTOR_TEST_TOOLS=${DOCKER_INSPECTOR_TEST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/docker-inspector/test-tools}
export DOCKER_INSPECTOR_TEST_TOOLS
test_tools "$DOCKER_INSPECTOR_TEST_TOOLS"
echo "==> test engine: $DOCKER_INSPECTOR_TEST_TOOLS/bin (from $(tr '\n' ' ' <"$DOCKER_INSPECTOR_TEST_TOOLS/PACKAGES"))"
# promtool and ctr for the tests; dockerd itself is found by tests/dockerlab.py.
export PATH="$DOCKER_INSPECTOR_TEST_TOOLS/bin:$PATH"

ensure_venv "$VENV"
stamp="$VENV/.docker-inspector-installed"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
    echo "==> pip install -e '.[test]' into $VENV (about a minute; log: $VENV/install.log)"
    pip_install "$VENV" -e '.[test]'
    echo "$want" >"$stamp"
fi

if [ "${DOCKER_INSPECTOR_SETUP_ONLY:-}" = 1 ]; then
    echo "==> setup done (DOCKER_INSPECTOR_SETUP_ONLY=1: no checks run)"
    exit 0
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
