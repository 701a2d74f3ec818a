# shellcheck shell=bash
# Setup steps shared by scripts/run.sh and scripts/test.sh (sourced, not run).
#
# On a fresh Debian (the "standard system utilities" install: python3, no python3-venv, no
# pip, no docker) both commands must work with no manual step when run as root, and say in
# one line what to install when they cannot do it themselves. Nothing here installs or
# enables a service: Debian packages that ship one (docker.io, containerd, prometheus) are
# only downloaded and unpacked into a cache dir (apt-get download + dpkg -x), never
# installed.

# Progress and errors go to stderr (run.sh's stdout is the report).
say() { echo "docker-inspector setup: $*" >&2; }
die() {
    echo "docker-inspector setup: error: $*" >&2
    exit 1
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Run a noisy command with its output in LOG; on failure show the log's tail and stop.
quietly() {
    local log=$1
    shift
    if ! "$@" >"$log" 2>&1; then
        echo "docker-inspector setup: error: failed: $*" >&2
        tail -n 25 "$log" >&2
        die "the full output is in $log"
    fi
}

# apt-get install PACKAGES (no recommends, no prompts), updating the lists once if needed.
# Only for packages that ship no service (checked by tests/test_setup_scripts.py).
apt_install() {
    local log
    log=$(mktemp)
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
        say "updating the package lists (apt-get update)"
        quietly "$log" apt-get update -qq
        quietly "$log" apt-get install -y -qq --no-install-recommends "$@"
    fi
    rm -f "$log"
}

# python3 >= 3.11 with a working venv module (ensurepip included), installing Debian's
# python3-venv when root; otherwise one line saying what to install.
need_python() {
    command -v python3 >/dev/null 2>&1 ||
        die "python3 is missing: install it (Debian/Ubuntu: apt-get install python3), then run this again"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "python3 is $(python3 -V 2>&1 | cut -d' ' -f2); docker-inspector needs 3.11 or newer"
    if python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
        return
    fi
    if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
        die "python3's venv module is missing: install it (Debian/Ubuntu: sudo apt-get install python3-venv), then run this again"
    fi
    say "installing python3-venv (apt-get): python3 has no venv module yet"
    apt_install python3-venv
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 ||
        die "python3-venv was installed but 'python3 -m venv' still cannot work: install python3-venv for $(python3 -V 2>&1)"
}

# A usable virtualenv at VENV: its python runs and has pip. A half-made one (ensurepip
# failed, an interrupted run, a python upgrade) is removed and made again.
ensure_venv() {
    local venv=$1
    if [ -e "$venv" ] && ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        say "$venv is incomplete (no working pip in it): making it again"
        rm -rf "$venv"
    fi
    if [ ! -e "$venv" ]; then
        need_python
        say "creating the virtualenv $venv ($(python3 -V 2>&1))"
        local log
        log=$(mktemp)
        if ! python3 -m venv "$venv" >"$log" 2>&1; then
            rm -rf "$venv" # never leave a half-made venv behind
            tail -n 25 "$log" >&2
            rm -f "$log"
            die "python3 -m venv $venv failed (see above)"
        fi
        rm -f "$log"
    fi
}

# pip install SPEC... into VENV, quietly: the log (setuptools' build warnings included) is
# kept in VENV/install.log and shown only when the install fails.
pip_install() {
    local venv=$1
    shift
    local log="$venv/install.log"
    # Build backends run in subprocesses: PYTHONWARNINGS reaches them, --quiet does not.
    PYTHONWARNINGS=ignore quietly "$log" "$venv/bin/python" -m pip install --upgrade pip
    PYTHONWARNINGS=ignore quietly "$log" "$venv/bin/python" -m pip install "$@"
}

# Debian's dockerd 20.10, containerd, runc, tini, promtool and busybox for the tests,
# downloaded and unpacked (apt-get download + dpkg -x) into DIR/bin and DIR/lib: no package
# is installed, so no service is installed or enabled, and the host's own Docker (if any) is
# neither used nor touched. Reused while DIR holds every binary.
TEST_TOOL_PACKAGES=(docker.io containerd runc tini prometheus busybox-static libdevmapper1.02.1)
TEST_TOOL_BINARIES=(
    usr/sbin/dockerd usr/sbin/docker-proxy usr/sbin/runc usr/bin/docker usr/bin/containerd
    usr/bin/containerd-shim usr/bin/containerd-shim-runc-v1 usr/bin/containerd-shim-runc-v2
    usr/bin/ctr usr/bin/tini usr/bin/promtool bin/busybox
)
test_tools() {
    local dir=$1 b missing=0
    for b in "${TEST_TOOL_BINARIES[@]}"; do
        [ -x "$dir/bin/$(basename "$b")" ] || missing=1
    done
    [ -e "$dir/lib/libdevmapper.so.1.02.1" ] || missing=1
    [ "$missing" -eq 1 ] || return 0
    command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to fetch Debian's docker.io for the tests"
    say "downloading Debian's ${TEST_TOOL_PACKAGES[*]} into $dir (apt-get download + dpkg -x: nothing is installed, no service is enabled)"
    local work log deb
    work=$(mktemp -d)
    log="$work/log"
    # The _apt sandbox user cannot write into a root-only temp dir; as root, download as root.
    local sandbox=()
    is_root && sandbox=(-o APT::Sandbox::User=root)
    if ! (cd "$work" && apt-get -qq "${sandbox[@]}" download "${TEST_TOOL_PACKAGES[@]}") >"$log" 2>&1; then
        is_root || die "apt-get download failed and updating the package lists needs root: $(tail -n 1 "$log")"
        say "updating the package lists (apt-get update)"
        quietly "$log" apt-get update -qq
        quietly "$log" bash -c "cd '$work' && apt-get -qq ${sandbox[*]} download ${TEST_TOOL_PACKAGES[*]}"
    fi
    mkdir -p "$work/x"
    for deb in "$work"/*.deb; do
        dpkg -x "$deb" "$work/x"
    done
    rm -rf "$dir.new"
    mkdir -p "$dir.new/bin" "$dir.new/lib"
    for b in "${TEST_TOOL_BINARIES[@]}"; do
        local src="$work/x/$b"
        [ -e "$src" ] || src="$work/x/usr/$b" # usrmerge: /bin/busybox may be /usr/bin/busybox
        [ -e "$src" ] || die "$b is not in the downloaded packages"
        cp -a "$src" "$dir.new/bin/"
    done
    cp -aL "$work"/x/lib/*/libdevmapper.so.1.02.1 "$dir.new/lib/" 2>/dev/null ||
        cp -aL "$work"/x/usr/lib/*/libdevmapper.so.1.02.1 "$dir.new/lib/"
    (cd "$work" && printf '%s\n' *.deb) >"$dir.new/PACKAGES"
    rm -rf "$dir" "$work"
    mv "$dir.new" "$dir"
}
