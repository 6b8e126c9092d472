#!/usr/bin/env bash
# make demo / make demo-stop: a broker on this machine and a small emulated fleet, provisioned by the
# real playbooks/site.yml, left running with the readings on show.
#   tools/demo.sh start | stop
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEMO=$ROOT/.demo
# WHATWATT_VENV: the virtualenv whose ansible-core runs the demo (tools/checks.sh runs it on the newest release too).
export PATH="${WHATWATT_VENV:-$ROOT/.venv}/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$ROOT/.build/collections"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export PYTHONPATH="$ROOT/tools${PYTHONPATH:+:$PYTHONPATH}"

COUNT=${WHATWATT_DEMO_DEVICES:-5}
FIRST_IP=127.0.10.1
PKI=$DEMO/pki
# People watch as whatwatt-watch: the client id is bound to the certificate identity, so sharing the
# verifier's (whatwatt-monitor) would displace it during a site.yml run.
WATCH=whatwatt-watch

stop() {
    if [ -f "$DEMO/emulator.pid" ]; then
        pid=$(cat "$DEMO/emulator.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid"
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            echo "emulated fleet stopped (pid $pid)"
        fi
        rm -f "$DEMO/emulator.pid"
    fi
    if [ -f "$DEMO/broker-started" ]; then
        ansible-playbook -i inventory/demo playbooks/broker_stop.yml >/dev/null && echo "demo broker stopped"
        rm -f "$DEMO/broker-started"
    fi
}

start() {
    stop
    mkdir -p "$DEMO"
    chmod 0700 "$DEMO"
    echo "==> starting $COUNT emulated WhatWatt Go meters on $FIRST_IP.. (port 80)"
    python -m whatwatt_emulator fleet --count "$COUNT" --first-ip "$FIRST_IP" --port 80 \
        --state-dir "$DEMO/emulator" --inventory "$DEMO/meters.yml" --pid-file "$DEMO/emulator.pid" \
        --report-interval 5 --log "$DEMO/emulator.log" > "$DEMO/emulator.out" 2>&1 &
    for _ in $(seq 100); do
        grep -q ready "$DEMO/emulator.out" 2>/dev/null && break
        kill -0 $! 2>/dev/null || { cat "$DEMO/emulator.out"; echo "the emulator did not start" >&2; exit 1; }
        sleep 0.2
    done
    grep -q ready "$DEMO/emulator.out" || { echo "the emulator did not become ready" >&2; exit 1; }

    echo "==> playbooks/site.yml: PKI on the controller -> Mosquitto with mTLS -> meters over REST"
    touch "$DEMO/broker-started"
    ansible-playbook -i inventory/demo -i "$DEMO/meters.yml" playbooks/site.yml

    echo
    echo "==> readings arriving over mutual TLS (first 10 messages):"
    watch=(mosquitto_sub -h 127.0.0.1 -p 8883 --cafile "$PKI/ca-bundle.crt"
        --cert "$PKI/clients/$WATCH.crt" --key "$PKI/clients/$WATCH.key" -t 'meters/#' -v)
    "${watch[@]}" -C 10 -W 60
    echo
    echo "The broker and the emulated fleet keep running. Watch the readings yourself with:"
    printf '  %s\n' "$(printf '%q ' "${watch[@]}")"
    echo "Stop everything with: make demo-stop"
}

case ${1:-start} in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
