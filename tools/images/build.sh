#!/usr/bin/env bash
# Builds (or finds cached) a broker test-host image from Debian's archive:
#   tools/images/build.sh SUITE        SUITE = bookworm | trixie | sid
# debootstrap a minimal rootfs (systemd, openssh-server, python3), `podman import` it as
# localhost/whatwatt-broker-SUITE:<recipe hash>. The hash covers this script, so an image is rebuilt
# only when its recipe changes; an existing tag is reused. Prints the image name on stdout.
# Heavy (network, disk, CPU): callers hold /tmp/whatwatt-heavy.lock.
set -euo pipefail
suite=${1:?usage: build.sh bookworm|trixie|sid}
mirror=${WHATWATT_DEBIAN_MIRROR:-http://deb.debian.org/debian}

# Per suite: the init (systemd as PID 1, or none: sshd is the container's main process) and the packages.
# python3-apt: Ansible's apt module needs it in check mode (a real run installs it, a check run cannot).
base_pkgs=openssh-server,python3,python3-apt,ca-certificates,procps,iproute2
case $suite in
    bookworm | trixie) init=systemd; pkgs=$base_pkgs,systemd,systemd-sysv,dbus; options="" ;;
    # Unstable's systemd does not boot on this host's cgroup v1 layout; its Release file may be past
    # Valid-Until on the mirror. tini reaps what the daemons orphan (sshd as PID 1 would leave zombies).
    sid) init=none; pkgs=$base_pkgs,tini; options="[check-valid-until=no] " ;;
    *) echo "unknown suite: $suite" >&2; exit 2 ;;
esac

hash=$( { cat "$0"; echo "$suite $mirror"; } | sha256sum | cut -c1-12)
image=localhost/whatwatt-broker-$suite:$hash
if podman image exists "$image"; then
    echo "$image"
    exit 0
fi

work=$(mktemp -d "/var/tmp/whatwatt-image-$suite.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
start=$SECONDS
echo "building $image (debootstrap $suite from $mirror)" >&2
debootstrap --variant=minbase --include="$pkgs" --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
    "$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 30 "$work/debootstrap.log" >&2; exit 1; }

echo "deb ${options}$mirror $suite main" >"$root/etc/apt/sources.list"
rm -f "$root"/etc/apt/sources.list.d/*
# sshd reads its listen address and the test's key from files the test mounts at run time.
mkdir -p "$root/root/.ssh" "$root/run/sshd"
chmod 0700 "$root/root/.ssh"
if [ "$init" = systemd ]; then
    # Nothing a container has no use for (and which waits on hardware or the network).
    for unit in systemd-networkd-wait-online.service getty@tty1.service systemd-timesyncd.service \
        apt-daily.timer apt-daily-upgrade.timer e2scrub_reap.service; do
        ln -sf /dev/null "$root/etc/systemd/system/$unit"
    done
fi
: >"$root/etc/machine-id"
# The package lists stay, as on any installed host (check mode on a fresh host reads them).
rm -rf "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . | podman import -q --change "LABEL whatwatt.init=$init" \
    --change "LABEL whatwatt.recipe=$hash" - "$image" >/dev/null
# Older images of this suite are no longer any recipe's.
podman images --format '{{.Repository}}:{{.Tag}}' | grep "^localhost/whatwatt-broker-$suite:" \
    | grep -v ":$hash\$" | xargs -r podman rmi >/dev/null 2>&1 || true
echo "built $image in $((SECONDS - start)) s" >&2
echo "$image"
