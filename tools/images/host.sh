#!/usr/bin/env bash
# Runs a broker test host built by build.sh, reachable over SSH on a loopback address:
#   tools/images/host.sh start NAME IMAGE ADDRESS SSH_PORT PUBLIC_KEY
#   tools/images/host.sh reboot NAME     (stop and start the container: the host "reboots")
#   tools/images/host.sh rm NAME
# The container shares the host's network (--network host): sshd listens on ADDRESS:SSH_PORT only, the
# broker on whatever its configuration says. What works on these machines: runc (crun refuses the
# hybrid cgroup layout), cgroupfs, rlimits no higher than the sandbox's, systemd as PID 1 where the
# image has it (label whatwatt.init=systemd), otherwise tini + sshd as the main process.
set -euo pipefail
podman=(podman --runtime runc --cgroup-manager=cgroupfs)
cmd=${1:?usage: host.sh start|reboot|rm NAME ...}
name=${2:?container name}
case $cmd in
    start)
        image=${3:?image} address=${4:?address} port=${5:?ssh port} pubkey=${6:?public key file}
        state=$(dirname "$pubkey")
        printf 'ListenAddress %s:%s\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUseDNS no\n' \
            "$address" "$port" >"$state/sshd-$name.conf"
        "${podman[@]}" rm -f "$name" >/dev/null 2>&1 || true
        init=$(podman image inspect --format '{{ index .Labels "whatwatt.init" }}' "$image")
        run=("${podman[@]}" run -d --name "$name" --hostname "$name" --network host
            --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
            -v "$state/sshd-$name.conf:/etc/ssh/sshd_config.d/whatwatt-test.conf:ro"
            -v "$pubkey:/root/.ssh/authorized_keys:ro")
        if [ "$init" = systemd ]; then
            "${run[@]}" --systemd=always "$image" /sbin/init >/dev/null
        else
            "${run[@]}" "$image" /usr/bin/tini -- /usr/sbin/sshd -D -e >/dev/null
        fi
        ;;
    reboot)
        "${podman[@]}" stop -t 20 "$name" >/dev/null
        "${podman[@]}" start "$name" >/dev/null
        ;;
    rm)
        "${podman[@]}" rm -f -t 5 "$name" >/dev/null 2>&1 || true
        ;;
    *) echo "unknown command: $cmd" >&2; exit 2 ;;
esac
