#!/usr/bin/env bash
# Install docker-inspector into .venv and run the main job: a text report of
# /var/lib/docker when it is readable here, else of the bundled sample root.
# Extra arguments go to `docker-inspector report` (e.g. --format json).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/docker-inspector ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --upgrade pip >&2
    .venv/bin/pip install --quiet -e . >&2
fi
root=/var/lib/docker
if ! [ -d "$root" ] || ! [ -r "$root" ] || ! [ -x "$root" ]; then
    echo "docker-inspector: $root is missing or unreadable here; reporting on sample_data/root" >&2
    root=sample_data/root
fi
exec .venv/bin/docker-inspector report --root "$root" "$@"
