"""A paho-mqtt subscriber over mTLS that collects messages, for asserting what devices publish."""

import ssl
import threading
import time

import paho.mqtt.client as paho


class Collector:
    """Subscribe to ``topic`` on a TLS broker with a client certificate; ``messages`` fills up."""

    def __init__(self, host, port, cafile, certfile, keyfile, topic="#", client_id="test-monitor"):
        self.messages = []
        self._cond = threading.Condition()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
        ctx.load_cert_chain(certfile, keyfile)
        self.client.tls_set_context(ctx)
        self.client.tls_insecure_set(False)
        self._subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=0)
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.client.on_message = self._on_message
        self.host, self.port = host, port

    def _on_message(self, client, userdata, msg):
        with self._cond:
            self.messages.append((msg.topic, msg.payload.decode("utf-8", "replace")))
            self._cond.notify_all()

    def start(self, timeout=10.0):
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise TimeoutError("monitor did not subscribe")
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

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
