# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The device's MQTT 3.1.1 client: one paho client per device, all driven from one asyncio loop.

paho's external-loop API is used (``loop_read``/``loop_write``/``loop_misc`` plus socket callbacks),
so a thousand clients cost a thousand sockets, not a thousand threads. The blocking part of a
(re)connect -- TCP connect and TLS handshake -- runs in a small shared thread pool so one slow
broker never stalls the loop; everything else happens on the loop thread.
"""

import contextlib
import ipaddress
import logging
import os
import random
import ssl
import tempfile
import threading

import paho.mqtt.client as paho

from .settings import parse_url

LOG = logging.getLogger("whatwatt_emulator.mqtt")

BACKOFF_MIN = 1.0
BACKOFF_MAX = 60.0
KEEPALIVE = 60
CONNECT_TIMEOUT = 5.0


def build_ssl_context(settings, scratch_dir):
    """SSL context for ``mqtts://`` as the device builds it from its settings.

    No ``broker.certificate``: nothing is trusted, so the handshake fails (the project's assumption).
    ``skip_cn_check`` false: the broker's name or IP must match its certificate (SANs).
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = not settings["skip_cn_check"]
    if settings["broker"]["certificate"]:
        ctx.load_verify_locations(cadata=settings["broker"]["certificate"])
    client = settings["client"]
    if client["certificate"] and client["key"]:
        # load_cert_chain only reads files: a private temporary file, removed at once.
        fd, path = tempfile.mkstemp(prefix=".chain-", dir=scratch_dir)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(client["certificate"].strip() + "\n" + client["key"].strip() + "\n")
            ctx.load_cert_chain(path, password=client["key_password"] or None)
        finally:
            os.unlink(path)
    return ctx


class MqttLink:
    """Connection state machine of one device's MQTT client."""

    def __init__(self, device, loop, executor, scratch_dir):
        self.device = device
        self.loop = loop
        self.executor = executor
        self.scratch_dir = scratch_dir
        self.client = None
        self.generation = 0
        self.connected = False
        self.connecting = False
        self.last_error = None
        self.last_connected = None
        self.connects = 0
        self.attempts = 0
        self.published = 0
        self.backoff = BACKOFF_MIN
        self._retry = None
        self._publish_timer = None
        self._sock = None
        self.target = None
        self._dns_only_host = None  # switch --name-check-ignores-ip-sans: the name the broker must carry

    # -- configuration -------------------------------------------------------------------------
    def configure(self):
        """(Re)apply the device's settings: drop any connection, connect again if enabled."""
        self.shutdown(reason=None)
        settings = self.device.mqtt
        if not settings["enable"] or not settings["url"]:
            return
        if not self.device.license_allows_mqtt():
            self.last_error = f"license {self.device.license_type}: the MQTT client does not run"
            return
        try:
            scheme, host, port = parse_url(settings["url"], require_port=self.device.options.url_port_required)
        except ValueError as err:
            self.last_error = f"invalid url: {err}"
            return
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=settings["client_id"],
            protocol=paho.MQTTv311,
            clean_session=True,
        )
        client.suppress_exceptions = True
        if settings["username"]:
            client.username_pw_set(settings["username"], settings["password"] or None)
        if scheme == "mqtts":
            try:
                client.tls_set_context(build_ssl_context(settings, self.scratch_dir))
            except (ssl.SSLError, ValueError, OSError) as err:
                self.last_error = f"TLS setup failed: {err}"
                return
            self._dns_only_host = None
            if not settings["skip_cn_check"] and self.device.options.name_check_ignores_ip_sans and _is_ip(host):
                # This device's name check knows DNS names and the CN only: the check is done after the handshake.
                self._dns_only_host = host
            client.tls_insecure_set(settings["skip_cn_check"] or self._dns_only_host is not None)
        client.connect_timeout = CONNECT_TIMEOUT
        client.connect_async(host, port, keepalive=KEEPALIVE)
        gen = self.generation
        client.on_connect = lambda c, u, f, rc, p: self._on_connect(gen, rc)
        client.on_disconnect = lambda c, u, f, rc, p: self._on_disconnect(gen, rc)
        client.on_log = lambda c, u, level, msg: self._on_log(gen, level, msg)
        client.on_socket_close = lambda c, u, sock: self._forget_socket(sock)
        client.on_socket_register_write = lambda c, u, sock: self._watch_write(gen, sock, True)
        client.on_socket_unregister_write = lambda c, u, sock: self._watch_write(gen, sock, False)
        self.client = client
        self.target = (scheme, host, port)
        self.backoff = BACKOFF_MIN
        self._start_connect(gen)

    def shutdown(self, reason="stopped"):
        """Disconnect cleanly (DISCONNECT packet) and forget the client."""
        self.generation += 1
        for handle in (self._retry, self._publish_timer):
            if handle is not None:
                handle.cancel()
        self._retry = self._publish_timer = None
        client, self.client = self.client, None
        if client is not None and not self.connecting:
            if self.connected:
                try:
                    client.disconnect()
                    client.loop_write()
                except Exception:  # noqa: BLE001, S110 - best effort on the way out
                    pass
            self._forget_socket(self._sock)
            with contextlib.suppress(Exception):
                client._sock_close()  # paho has no public "close now" for external loops
        self.connected = False
        self.connecting = False
        if reason:
            self.last_error = reason

    def drop(self):
        """Fault injection: lose the connection abruptly (no DISCONNECT); the client reconnects."""
        if self.client is not None and self._sock is not None:
            sock = self._sock
            self._forget_socket(sock)
            sock.close()
            self.client.loop_read()  # paho notices the dead socket and reports the disconnect

    # -- connecting ----------------------------------------------------------------------------
    def _start_connect(self, gen):
        if gen != self.generation or self.client is None:
            return
        self._retry = None
        self.connecting = True
        self.attempts += 1
        client = self.client
        future = self.executor.submit(self._blocking_connect, client, self._dns_only_host)
        future.add_done_callback(lambda fut: self.loop.call_soon_threadsafe(self._connect_done, gen, client, fut))

    @staticmethod
    def _blocking_connect(client, dns_only_host=None):
        client.reconnect()
        sock = client.socket()
        if dns_only_host is not None and not _dns_name_matches(sock.getpeercert() or {}, dns_only_host):
            with contextlib.suppress(Exception):
                client._sock_close()
            raise ssl.CertificateError(
                f"certificate is not valid for {dns_only_host!r}: this device matches the server name against DNS"
                " names and the CN only, IP SANs are ignored"
            )
        return sock

    def _connect_done(self, gen, client, future):
        if gen != self.generation:
            # Settings changed or stopped while connecting: throw this connection away.
            with contextlib.suppress(Exception):
                client._sock_close()
            return
        self.connecting = False
        err = future.exception()
        if err is not None:
            self.last_error = f"connect to {self.target[1]}:{self.target[2]} failed: {_describe(err)}"
            LOG.info("%s: %s", self.device.hostname, self.last_error)
            self._schedule_retry(gen)
            return
        sock = future.result()
        if sock is None:
            self.last_error = "connect failed: no socket"
            self._schedule_retry(gen)
            return
        self._sock = sock
        self.loop.add_reader(sock, self._readable, gen)
        if client.want_write():
            self.loop.add_writer(sock, self._writable, gen)

    def _schedule_retry(self, gen):
        delay = self.backoff * random.uniform(1.0, 1.2)
        self.backoff = min(BACKOFF_MAX, self.backoff * 2)
        self._retry = self.loop.call_later(delay, self._start_connect, gen)

    # -- socket events -------------------------------------------------------------------------
    def _readable(self, gen):
        client = self.client
        if gen != self.generation or client is None:
            return
        client.loop_read()
        sock = client.socket()
        # TLS may hold decrypted bytes the selector cannot see.
        while sock is not None and isinstance(sock, ssl.SSLSocket) and sock.pending() and self.client is client:
            client.loop_read()
            sock = client.socket()

    def _writable(self, gen):
        if gen != self.generation or self.client is None:
            return
        self.client.loop_write()

    def _watch_write(self, gen, sock, on):
        if threading.get_ident() != self.device.loop_thread or gen != self.generation or sock is not self._sock:
            return  # still connecting in the pool: the loop registers the socket when it is done
        if on:
            self.loop.add_writer(sock, self._writable, gen)
        else:
            self.loop.remove_writer(sock)

    def _forget_socket(self, sock):
        if sock is None or sock is not self._sock:
            return
        if threading.get_ident() == self.device.loop_thread:
            try:
                self.loop.remove_reader(sock)
                self.loop.remove_writer(sock)
            except (ValueError, OSError):
                pass
        self._sock = None

    def misc(self):
        """Called every second: keepalive pings."""
        if self.client is not None and self._sock is not None:
            self.client.loop_misc()

    # -- paho callbacks ------------------------------------------------------------------------
    def _on_connect(self, gen, reason_code):
        if gen != self.generation:
            return
        if reason_code.is_failure:
            self.connected = False
            self.last_error = f"broker refused the connection: {reason_code}"
            return  # paho closes; _on_disconnect schedules the retry
        self.connected = True
        self.connects += 1
        self.last_error = None
        self.backoff = BACKOFF_MIN
        self.last_connected = self.loop.time()
        LOG.info("%s: connected to %s:%s", self.device.hostname, self.target[1], self.target[2])
        self._schedule_publish(first=True)

    def _on_disconnect(self, gen, reason_code):
        if gen != self.generation:
            return
        was = self.connected
        self.connected = False
        if self._publish_timer is not None:
            self._publish_timer.cancel()
            self._publish_timer = None
        if self._sock is not None:
            self._forget_socket(self._sock)
        if self.last_error is None or was:
            self.last_error = f"disconnected: {reason_code}"
        LOG.info("%s: %s", self.device.hostname, self.last_error)
        if self.client is not None and self._retry is None and not self.connecting:
            self._schedule_retry(gen)

    def _on_log(self, gen, level, msg):
        if gen == self.generation and level == paho.MQTT_LOG_ERR:
            self.last_error = msg

    # -- publishing ----------------------------------------------------------------------------
    def _schedule_publish(self, first=False):
        if self._publish_timer is not None:
            self._publish_timer.cancel()
        interval = self.device.report_interval
        # Spread a fleet's first messages over one interval instead of all at once.
        delay = random.uniform(0.05, min(interval, 5.0)) if first else interval
        self._publish_timer = self.loop.call_later(delay, self._publish)

    def reschedule(self):
        """The report interval changed."""
        if self.connected:
            self._schedule_publish()

    def _publish(self):
        self._publish_timer = None
        if not self.connected or self.client is None:
            return
        self._schedule_publish()
        payload = self.device.render_payload()
        topic = self.device.mqtt["publish"]["topic"]
        if payload is None or not topic:
            return
        info = self.client.publish(topic, payload, qos=0, retain=False)
        if info.rc == paho.MQTT_ERR_SUCCESS:
            self.published += 1


def _is_ip(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _dns_name_matches(peer, host):
    """The check of a device that ignores IP SANs: ``host`` must equal a DNS SAN or the CN, as text."""
    names = [value for kind, value in peer.get("subjectAltName", ()) if kind == "DNS"]
    names += [value for rdn in peer.get("subject", ()) for key, value in rdn if key == "commonName"]
    return host in names


def _describe(err):
    if isinstance(err, ssl.SSLCertVerificationError):
        return "TLS certificate verification failed: %s" % (getattr(err, "verify_message", None) or err)
    if isinstance(err, ssl.SSLError):
        return "TLS handshake failed: %s" % (err.reason or err)
    if isinstance(err, ssl.CertificateError):
        return f"TLS name check failed: {err}"
    return f"{type(err).__name__}: {err}"
