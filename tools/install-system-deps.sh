#!/usr/bin/env bash
# Installs the system packages the demo and the tests need: Mosquitto >= 2.0.21 with its clients,
# openssl, curl, rsync, shellcheck (for ansible-test sanity), libfaketime (the CRL/expiry tests move the
# broker's clock), and what the broker test-host images need (podman with runc, debootstrap). On Debian 12
# Mosquitto comes from bookworm-backports (main has 2.0.11).
set -euo pipefail

need_version=2.0.21
have_mosquitto() {
    command -v mosquitto >/dev/null && command -v mosquitto_sub >/dev/null || return 1
    local v
    v=$(mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version \([0-9.]*\).*/\1/p' | head -n1)
    [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$need_version" "$v" | sort -V | head -n1)" = "$need_version" ]
}
have_all() {
    local tool
    for tool in openssl curl rsync shellcheck faketime podman runc debootstrap ssh ssh-keygen; do
        command -v "$tool" >/dev/null || return 1
    done
}
if have_mosquitto && have_all; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
# shellcheck source=/dev/null
. /etc/os-release
release=()
if [ "${ID:-}" = debian ] && [ "${VERSION_CODENAME:-}" = bookworm ]; then
    list=/etc/apt/sources.list.d/bookworm-backports.list
    if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" > "$list"
    fi
    release=(-t bookworm-backports)
fi
apt-get update -q
apt-get install -y -q --no-install-recommends openssl curl rsync ca-certificates shellcheck libfaketime faketime \
    podman runc debootstrap uidmap openssh-client
apt-get install -y -q --no-install-recommends "${release[@]}" mosquitto mosquitto-clients
# The package may start a broker on 1883 where an init system exists; this project runs its own.
if ! have_mosquitto; then
    echo "mosquitto >= $need_version is required; found: $(mosquitto -h 2>/dev/null | head -n1)" >&2
    exit 1
fi
