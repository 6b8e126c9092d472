"""Hostile clients on the broker's TLS port: paho-mqtt sessions and ``openssl s_client`` handshakes."""

import ssl
import subprocess
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

TIMEOUT = 8


class Session:
    """A paho MQTT 5 client over TLS that records what happened to it."""

    def __init__(self, host, port, cafile, certfile=None, keyfile=None, name="hostile", max_version=None, ciphers=None,
                 client_id=None):  # fmt: skip
        self.connected = threading.Event()
        self.failed = threading.Event()
        self.messages = []
        self.pubacks = {}
        self.subacks = []
        self.connack = None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"{name}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5
        )
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile)
        if max_version is not None:
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.maximum_version = max_version
        if ciphers:
            ctx.set_ciphers(ciphers)
        if certfile:
            ctx.load_cert_chain(certfile, keyfile)
        self.client.tls_set_context(ctx)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = lambda *a: self.failed.set()
        self.client.on_disconnect = lambda *a: self.failed.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, m.payload.decode("utf-8", "replace")))
        self.client.on_publish = lambda c, u, mid, rc, p: self.pubacks.__setitem__(mid, int(rc.value))
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.append([int(rc.value) for rc in rcs])
        self.host, self.port = host, port

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connack = int(reason_code.value)
        (self.connected if reason_code == 0 else self.failed).set()

    def start(self):
        """'connected', or 'refused: ...' / 'timeout'."""
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            return f"refused: {exc.__class__.__name__}: {exc}"
        self.client.loop_start()
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.connected.is_set():
                return "connected"
            if self.failed.is_set():
                return f"refused (connack={self.connack})"
            time.sleep(0.05)
        return "timeout"

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def attempt(host, port, cafile, certfile=None, keyfile=None, **kwargs):
    """Connect once and disconnect; return the outcome string."""
    session = Session(host, port, cafile, certfile, keyfile, **kwargs)
    outcome = session.start()
    session.stop()
    return outcome


def wait_for(predicate, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def s_client(host, port, *args):
    """``openssl s_client``; returns (handshake completed, output)."""
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", f"{host}:{port}", "-brief", *args],
        input=b"",
        capture_output=True,
        timeout=20,
        check=False,
    )
    text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    completed = "CONNECTION ESTABLISHED" in text and "alert" not in text.lower()
    return completed, text
