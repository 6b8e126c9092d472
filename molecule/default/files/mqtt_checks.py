# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a client experiences at the broker: the molecule scenario's verify step.

``matrix PKI HOST PORT``: every accepted and refused case with real clients (paho-mqtt,
``openssl s_client``, ``mosquitto_pub``/``mosquitto_sub``); prints one JSON object
``{case: {"ok": bool, "detail": str}}``.
``hold PKI HOST PORT DIR``: keeps one monitor session open, writes DIR/ready (the server serial it
saw), waits for DIR/go, then proves the session still works (ping + a message from a fresh
connection) and writes DIR/result.json.
"""

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TIMEOUT = 8


class Session:
    """A paho client that records what happened to it."""

    def __init__(self, pki, cn, host, port, ca=None, protocol=mqtt.MQTTv311, clients_dir="clients", client_id=None):
        self.connected = threading.Event()
        self.failed = threading.Event()
        self.messages = []
        self.disconnects = 0
        self.connack = None
        self.subacks = []
        self.pubacks = {}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or "{}-{}".format(cn or "anon", uuid.uuid4().hex[:6]),
            protocol=protocol,
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(ca or os.path.join(pki, "ca.crt"))
        if cn:
            base = os.path.join(pki, clients_dir, cn)
            ctx.load_cert_chain(base + ".crt", base + ".key")
        self.client.tls_set_context(ctx)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda *a: self.failed.set()
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload.decode()))
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.append([int(rc.value) for rc in rcs])
        self.client.on_publish = self._on_publish
        self.host, self.port = host, port

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = int(reason_code.value)
        if reason_code == 0:
            self.connected.set()
        else:
            self.failed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.disconnects += 1
        self.failed.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        self.pubacks[mid] = int(reason_code.value)

    def start(self, keepalive=60):
        try:
            self.client.connect(self.host, self.port, keepalive=keepalive)
        except (OSError, ssl.SSLError) as exc:
            return f"refused: {exc}"
        self.client.loop_start()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.connected.is_set():
                return "connected"
            if self.failed.is_set():
                return f"refused (connack={self.connack})"
            time.sleep(0.05)
        return "timeout"

    def server_serial(self):
        der = self.client.socket().getpeercert(binary_form=True)
        return serial_of_der(der)

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def serial_of_der(der):
    proc = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der, capture_output=True, check=True
    )
    return proc.stdout.decode().strip().split("=", 1)[1].upper()


def wait_for(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def connect_case(pki, host, port, cn, **kwargs):
    session = Session(pki, cn, host, port, **kwargs)
    outcome = session.start()
    if outcome == "connected":
        session.stop()
    return outcome


def s_client(host, port, args):
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", "localhost", *args],
        input=b"",
        capture_output=True,
        timeout=20,
        check=False,
    )
    return proc.returncode, proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")


def matrix(pki, host, port):
    port = int(port)
    results = {}

    def record(case, ok, detail):
        results[case] = {"ok": bool(ok), "detail": detail[-600:]}

    ca = os.path.join(pki, "ca.crt")

    def cli(cn, base="clients"):
        return [
            "--cafile",
            ca,
            "--cert",
            os.path.join(pki, base, cn + ".crt"),  # noqa: E731
            "--key",
            os.path.join(pki, base, cn + ".key"),
        ]

    # Accepted: paho round trip from a device to the monitor.
    monitor = Session(pki, "whatwatt-monitor", host, port, protocol=mqtt.MQTTv5)
    outcome = monitor.start()
    record("monitor_connects", outcome == "connected", outcome)
    monitor.client.subscribe("#", qos=1)
    wait_for(lambda: monitor.subacks)
    device = Session(pki, "whatwatt-001", host, port, protocol=mqtt.MQTTv5)
    outcome = device.start()
    record("device_connects", outcome == "connected", outcome)
    info = device.client.publish("meters/whatwatt-001", '{"P_In": 1.5}', qos=1)
    got = wait_for(lambda: ("meters/whatwatt-001", '{"P_In": 1.5}') in monitor.messages)
    record(
        "paho_round_trip",
        got and device.pubacks.get(info.mid) == 0,
        f"messages={monitor.messages} puback={device.pubacks}",
    )

    # ACL: the device may write only its own topic; MQTT 5 PUBACK says 135 (not authorized).
    denied = {}
    for topic in ("meters/whatwatt-002", "other/topic", "meters"):
        info = device.client.publish(topic, "intruder", qos=1)
        wait_for(lambda mid=info.mid: mid in device.pubacks)
        denied[topic] = device.pubacks.get(info.mid)
    time.sleep(0.5)
    leaked = [m for m in monitor.messages if m[1] == "intruder"]
    record(
        "acl_device_foreign_topic_refused",
        all(rc == 135 for rc in denied.values()) and not leaked,
        f"pubacks={denied} leaked={leaked}",
    )
    # A device may not read other devices: mosquitto grants the subscription but delivers nothing.
    device.client.subscribe("meters/#", qos=1)
    wait_for(lambda: device.subacks)
    other = Session(pki, "whatwatt-002", host, port, protocol=mqtt.MQTTv5)
    other.start()
    other.client.publish("meters/whatwatt-002", "for-monitor-only", qos=1)
    seen_by_monitor = wait_for(lambda: ("meters/whatwatt-002", "for-monitor-only") in monitor.messages)
    time.sleep(0.5)
    seen_by_device = [m for m in device.messages if m[1] == "for-monitor-only"]
    other.stop()
    record(
        "acl_device_cannot_read_others",
        seen_by_monitor and not seen_by_device,
        f"monitor={seen_by_monitor} device={seen_by_device}",
    )
    # The monitor may only read.
    info = monitor.client.publish("meters/whatwatt-001", "forged", qos=1)
    wait_for(lambda: info.mid in monitor.pubacks)
    record("acl_monitor_cannot_write", monitor.pubacks.get(info.mid) == 135, f"puback={monitor.pubacks}")
    device.stop()
    monitor.stop()

    # Accepted: the command-line clients (mosquitto_sub as the monitor, mosquitto_pub as a device).
    sub = subprocess.Popen(
        [
            "mosquitto_sub",
            "-h",
            host,
            "-p",
            str(port),
            *cli("whatwatt-monitor"),
            "-t",
            "meters/#",
            "-C",
            "1",
            "-W",
            "10",
            "-v",
            "-q",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    time.sleep(1.0)
    pub = subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            host,
            "-p",
            str(port),
            *cli("whatwatt-002"),
            "-t",
            "meters/whatwatt-002",
            "-m",
            "cli-hello",
            "-q",
            "1",
        ],
        capture_output=True,
        timeout=20,
        check=False,
    )
    out = sub.communicate(timeout=15)[0].decode()
    record(
        "cli_round_trip",
        pub.returncode == 0 and "meters/whatwatt-002 cli-hello" in out,
        f"pub rc={pub.returncode} {pub.stderr.decode()} sub: {out}",
    )

    # Accepted: openssl s_client with a valid certificate, TLS 1.2 and TLS 1.3.
    for version in ("-tls1_2", "-tls1_3"):
        rc, out = s_client(
            host,
            port,
            [
                version,
                "-CAfile",
                ca,
                "-cert",
                os.path.join(pki, "clients/whatwatt-001.crt"),
                "-key",
                os.path.join(pki, "clients/whatwatt-001.key"),
                "-verify_return_error",
            ],
        )
        record("s_client_valid" + version, rc == 0 and "Verify return code: 0 (ok)" in out, out)

    # Refused: no certificate, another CA, expired, revoked -- with paho (TLS 1.3) and s_client (TLS 1.2,
    # where the server's verdict is part of the handshake).
    refusals = {
        "no_certificate": (None, "clients"),
        "other_ca": ("whatwatt-001", "other/clients"),
        "expired": ("whatwatt-expired", "clients"),
        "revoked": ("whatwatt-revoked", "clients"),
    }
    for case, (cn, base) in refusals.items():
        outcome = connect_case(pki, host, port, cn, clients_dir=base)
        record("paho_refuses_" + case, outcome != "connected", outcome)
        args = ["-tls1_2", "-CAfile", ca]
        if cn:
            args += ["-cert", os.path.join(pki, base, cn + ".crt"), "-key", os.path.join(pki, base, cn + ".key")]
        rc, out = s_client(host, port, args)
        record("s_client_refuses_" + case, rc != 0 and re.search(r"alert|handshake failure", out) is not None, out)
        if cn:
            pub = subprocess.run(
                ["mosquitto_pub", "-h", host, "-p", str(port), *cli(cn, base), "-t", "meters/" + cn, "-m", "x"],
                capture_output=True,
                timeout=20,
                check=False,
            )
            record(
                "mosquitto_pub_refuses_" + case,
                pub.returncode != 0,
                f"rc={pub.returncode} {pub.stderr.decode()}",
            )

    # Refused: TLS 1.1 (the client is allowed to offer it; the server must say no).
    rc, out = s_client(
        host,
        port,
        [
            "-tls1_1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
            "-CAfile",
            ca,
            "-cert",
            os.path.join(pki, "clients/whatwatt-001.crt"),
            "-key",
            os.path.join(pki, "clients/whatwatt-001.key"),
        ],
    )
    record("s_client_refuses_tls1_1", rc != 0 and "alert protocol version" in out, out)

    # Nothing listens in plain text.
    try:
        with socket.create_connection((host, 1883), timeout=2):
            plain = "open"
    except OSError as exc:
        plain = f"closed ({exc})"
    record("no_plaintext_1883", plain != "open", plain)
    takeover(pki, host, port, record)
    print(json.dumps(results, indent=1, sort_keys=True))


def takeover(pki, host, port, record):
    """whatwatt-002's valid certificate presents whatwatt-001's client id while whatwatt-001 publishes every 0.5 s:
    the broker gives the intruder its own identity as client id, so the victim is not displaced and nothing the
    intruder writes to the victim's topic arrives."""
    watcher = Session(pki, "whatwatt-monitor", host, port, protocol=mqtt.MQTTv5)
    victim = Session(pki, "whatwatt-001", host, port, protocol=mqtt.MQTTv5, client_id="whatwatt-001")
    outcomes = [watcher.start(), victim.start()]
    watcher.client.subscribe("meters/whatwatt-001", qos=1)
    wait_for(lambda: watcher.subacks)
    stop = threading.Event()

    def publish():
        n = 0
        while not stop.is_set():
            victim.client.publish("meters/whatwatt-001", f"victim-{n}", qos=1)
            n += 1
            stop.wait(0.5)

    publisher = threading.Thread(target=publish, daemon=True)
    publisher.start()
    intruder = Session(pki, "whatwatt-002", host, port, protocol=mqtt.MQTTv5, client_id="whatwatt-001")
    outcomes.append(intruder.start())
    start = len(watcher.messages)
    forged = intruder.client.publish("meters/whatwatt-001", "forged", qos=1) if outcomes[-1] == "connected" else None
    wait_for(lambda: forged is not None and forged.mid in intruder.pubacks)
    time.sleep(3)
    stop.set()
    publisher.join(5)
    after = [payload for _topic, payload in watcher.messages[start:]]
    detail = (
        f"outcomes={outcomes} victim disconnects={victim.disconnects} intruder puback="
        f"{intruder.pubacks.get(forged.mid) if forged else None} victim messages after the intrusion="
        f"{len([p for p in after if p.startswith('victim-')])} forged seen={'forged' in after}"
    )
    record(
        "takeover_refused_victim_keeps_publishing",
        outcomes == ["connected"] * 3
        and victim.disconnects == 0
        and not victim.failed.is_set()
        and "forged" not in after
        and intruder.pubacks.get(forged.mid) == 135
        and len([p for p in after if p.startswith("victim-")]) >= 4,
        detail,
    )
    for session in (intruder, victim, watcher):
        session.stop()


def hold(pki, host, port, workdir):
    port = int(port)
    session = Session(pki, "whatwatt-monitor", host, port, protocol=mqtt.MQTTv5)
    outcome = session.start(keepalive=5)
    result = {"connect": outcome}
    if outcome != "connected":
        _write_json(os.path.join(workdir, "result.json"), result)
        _write_json(os.path.join(workdir, "ready"), {"serial": None})
        return
    session.client.subscribe("meters/#", qos=1)
    wait_for(lambda: session.subacks)
    result["serial_before"] = session.server_serial()
    _write_json(os.path.join(workdir, "ready"), {"serial": result["serial_before"]})
    wait_for(lambda: os.path.exists(os.path.join(workdir, "go")), timeout=240)
    time.sleep(6)  # more than one keepalive: the broker must answer PINGREQ on the old session
    device = Session(pki, "whatwatt-002", host, port, protocol=mqtt.MQTTv5)
    result["fresh_connect"] = device.start()
    if result["fresh_connect"] == "connected":
        result["serial_fresh"] = device.server_serial()
        device.client.publish("meters/whatwatt-002", "after-rotation", qos=1)
        result["received_after"] = wait_for(lambda: ("meters/whatwatt-002", "after-rotation") in session.messages)
        device.stop()
    result["old_session_disconnects"] = session.disconnects
    result["old_session_serial"] = session.server_serial() if session.disconnects == 0 else None
    session.stop()
    _write_json(os.path.join(workdir, "result.json"), result)


def _write_json(path, data):
    with open(path + ".tmp", "w") as handle:
        json.dump(data, handle)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    if sys.argv[1] == "matrix":
        matrix(*sys.argv[2:5])
    else:
        hold(*sys.argv[2:6])
