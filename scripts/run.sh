#!/usr/bin/env bash
# Install docker-inspector into .venv and run the main job: a text report of
# /var/lib/docker when it is readable here, else of the bundled sample root.
# Extra arguments go to `docker-inspector report` (e.g. --format json).
#
# On a fresh Debian it brings what it needs: python3-venv (apt-get, when run as root;
# otherwise it says in one line what to install) and the Python dependencies (pip, from
# PyPI). A half-made .venv is made again. Progress goes to stderr; stdout is the report.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/setup-lib.sh
. scripts/setup-lib.sh
VENV=.venv
if ! "$VENV/bin/docker-inspector" --version >/dev/null 2>&1; then
    ensure_venv "$VENV"
    say "installing docker-inspector and its dependencies into $VENV (pip install -e .; about 20-30 s; log: $VENV/install.log)"
    pip_install "$VENV" -e .
    say "installed $VENV/bin/docker-inspector"
fi
root=/var/lib/docker
if ! [ -d "$root" ] || ! [ -r "$root" ] || ! [ -x "$root" ]; then
    echo "docker-inspector: $root is missing or unreadable here; reporting on sample_data/root" >&2
    root=sample_data/root
fi
exec .venv/bin/docker-inspector report --root "$root" "$@"
