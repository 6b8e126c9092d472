"""The one test subscriber: a paho-mqtt client over mTLS that records what arrives and every (dis)connect.

``Subscriber(host, port, cafile, certfile, keyfile, topic=..., client_id=...)`` or, for an identity of a PKI
directory laid out as the pki role writes it, ``Subscriber.for_identity(pki_dir, identity, host, port, ...)``.
"""

import os
import ssl
import threading
import time

import paho.mqtt.client as paho


class Subscriber:
    """Subscribe to ``topic`` with a client certificate.

    ``messages``: (topic, payload) in arrival order; ``since(t)``: (monotonic time, topic, payload) from ``t`` on;
    ``connects``/``disconnects``: how often the session came up and went down.
    """

    def __init__(self, host, port, cafile, certfile, keyfile, topic="#", client_id="test-monitor", keepalive=30,
                 reconnect_delay=None):  # fmt: skip
        self.messages = []
        self.received = []  # (monotonic time, topic, payload)
        self.connects = 0
        self.disconnects = 0
        self._cond = threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
        ctx.load_cert_chain(certfile, keyfile)
        self.client.tls_set_context(ctx)
        self.client.tls_insecure_set(False)
        if reconnect_delay:
            self.client.reconnect_delay_set(*reconnect_delay)
        self._subscribed = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.host, self.port, self.topic, self.keepalive = host, port, topic, keepalive

    @classmethod
    def for_identity(cls, pki_dir, identity, host, port, **kwargs):
        """A subscriber holding ``clients/<identity>.crt|.key`` and trusting ``ca-bundle.crt`` of ``pki_dir``."""
        base = os.path.join(pki_dir, "clients", identity)
        return cls(host, port, os.path.join(pki_dir, "ca-bundle.crt"), f"{base}.crt", f"{base}.key", **kwargs)

    def _on_connect(self, client, userdata, flags, reason, props):
        self.connects += 1
        client.subscribe(self.topic, qos=0)

    def _on_disconnect(self, *args):
        self.disconnects += 1

    def _on_message(self, client, userdata, msg):
        payload = msg.payload.decode("utf-8", "replace")
        with self._cond:
            self.messages.append((msg.topic, payload))
            self.received.append((time.monotonic(), msg.topic, payload))
            self._cond.notify_all()

    def start(self, timeout=10.0):
        self.client.connect(self.host, self.port, keepalive=self.keepalive)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise TimeoutError("the subscriber did not subscribe")
        return self

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()

    def wait_for(self, predicate, timeout=15.0):
        """Wait until ``predicate(messages)`` is true; return the messages."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"condition not met; got {len(self.messages)} messages")
                self._cond.wait(left)
            return list(self.messages)

    def since(self, start):
        """(monotonic time, topic, payload) of every message that arrived at or after ``start``."""
        with self._cond:
            return [entry for entry in self.received if entry[0] >= start]

    def topics_since(self, start):
        return {topic for _t, topic, _p in self.since(start)}

    def wait_topics(self, start, topics, timeout=15.0):
        """Wait until a message arrived on every one of ``topics`` after ``start``; return the missing ones."""
        wanted = set(topics)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if wanted <= self.topics_since(start):
                return []
            time.sleep(0.2)
        return sorted(wanted - self.topics_since(start))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
