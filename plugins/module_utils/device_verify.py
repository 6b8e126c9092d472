# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet verification after an MQTT push: is every device connected and publishing?

One run covers a whole batch of devices at once, so a fleet pays one report interval, not one per
device. The monitor subscribes once (paho-mqtt, TLS with the monitoring identity's certificate) to
every device's topic, a small thread pool polls each device's ``GET /api/v1/system`` until
``clouds.mqtc.connected`` is true, and a device passes when it is connected **and** a message has
arrived on its topic after the monitor subscribed (that is, after the push).

The decisions (what counts as ok, which errors are final, the reason text) are plain functions
on :class:`DeviceState`; :class:`FleetVerifier` only gathers the evidence.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import concurrent.futures
import threading
import time
import uuid

import ssl

try:
    import paho.mqtt.client as paho

    HAS_PAHO = True
    PAHO_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without paho-mqtt
    HAS_PAHO = False
    PAHO_IMPORT_ERROR = exc

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import meter_spec, naming
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_plan import template_text
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_template import (
    payload_problem,
    template_is_json,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    WhatWattClient,
    WhatWattError,
)

VERIFY_ARGUMENT_SPEC = dict(
    devices=dict(
        type="list",
        elements="dict",
        required=True,
        options=dict(
            name=dict(type="str", required=True),
            **meter_spec.options(
                ("host", "port", "client_id", "topic", "password", "template"),
                port=dict(default=80),
                client_id=dict(required=True),
                topic=dict(required=True),
            ),
        ),
    ),
    **meter_spec.options(
        ("broker_host", "broker_port", "ca_path"), broker_host=dict(required=True), ca_path=dict(required=True)
    ),
    cert_path=dict(type="path", required=True),
    key_path=dict(type="path", required=True, no_log=False),
    **meter_spec.options(
        ("monitor_client_id", "password", "verify_timeout"),
        password=dict(default=""),
        # ``timeout`` was this option's name (and stays an alias): here it is the wait, not an HTTP timeout.
        verify_timeout=dict(aliases=["timeout"]),
    ),
    poll_interval=dict(type="float", default=1.0),
    request_timeout=dict(type="float", default=5),
    **meter_spec.options(("retries", "workers"), retries=dict(default=2)),
    details=dict(type="str", default="failed", choices=["failed", "all"]),
)

# Statuses of GET /api/v1/system that waiting will not cure.
FINAL_STATUSES = (400, 401, 404)
SUBSCRIBE_CHUNK = 64
LICENSES_WITH_MQTT = ("PLUS", "PRO")


class VerifyError(Exception):
    """The verification as a whole cannot run (bad input, the monitor cannot reach the broker)."""


# -- decisions ---------------------------------------------------------------------------------
class DeviceState:
    """The evidence gathered about one device during a run."""

    def __init__(self, name, client_id, topic, host=None, port=80, password=None, armed=True, template=None):
        self.name = name
        self.client_id = client_id
        self.topic = topic
        self.host = host or name
        self.port = port
        self.password = password
        self.connected = False  # clouds.mqtc.connected was seen true at least once
        self.connected_after = None  # seconds after the start when it was first seen
        self.mqtc_enabled = None
        self.license = None
        self.messages = 0  # non-retained messages on the topic since the monitor subscribed
        self.message_after = None
        self.polls = 0
        self.poll_error = None  # last transient error (connection, 5xx)
        self.final_error = None  # an error that waiting cannot cure (401, 404, ...)
        self.subscribe_error = None
        # A JSON template: every payload must parse. Any template: no ${...} may be left in a payload.
        self.expect_json = template_is_json(template)
        self.payload_error = None
        # Messages count only once the device is armed (after its push), and times are measured from then.
        self.armed = armed
        self.armed_at = 0.0

    @property
    def message_seen(self):
        return self.messages > 0


def mqtc_status(system):
    """``(enabled, connected, licence type)`` from a ``GET /api/v1/system`` answer (None when absent)."""
    system = system if isinstance(system, dict) else {}
    mqtc = (system.get("clouds") or {}).get("mqtc") or {}
    license_type = ((system.get("device") or {}).get("license") or {}).get("type")
    enabled = mqtc.get("enabled")
    connected = mqtc.get("connected")
    return (
        None if enabled is None else bool(enabled),
        bool(connected),
        str(license_type).upper() if license_type else None,
    )


def record_poll(state, system, elapsed):
    """Fold one successful status answer into ``state``."""
    enabled, connected, license_type = mqtc_status(system)
    state.polls += 1
    state.poll_error = None
    state.mqtc_enabled = enabled
    state.license = license_type
    if connected and not state.connected:
        state.connected = True
        state.connected_after = round(max(0.0, elapsed - state.armed_at), 2)


def record_poll_error(state, error):
    """Fold one failed status call into ``state``: final for 400/401/404, transient otherwise."""
    state.polls += 1
    message = getattr(error, "message", None) or str(error)
    if getattr(error, "status", None) in FINAL_STATUSES:
        state.final_error = message
    else:
        state.poll_error = message


def record_message(state, elapsed, retained=False, payload=None):
    """A message arrived on the device's topic; retained ones, and any before its push, prove nothing.

    A payload that is not what the template promises (invalid JSON, a ``${...}`` left) fails the device.
    """
    if retained or not state.armed:
        return
    if payload is not None and state.payload_error is None:
        state.payload_error = payload_problem(payload, state.expect_json)
    state.messages += 1
    if state.message_after is None:
        state.message_after = round(max(0.0, elapsed - state.armed_at), 2)


def is_ok(state):
    return (
        state.connected
        and state.message_seen
        and not state.final_error
        and not state.subscribe_error
        and not state.payload_error
    )


def is_decided(state):
    """True once waiting longer cannot change the verdict."""
    return is_ok(state) or bool(state.final_error) or bool(state.subscribe_error) or bool(state.payload_error)


def needs_poll(state):
    return not state.connected and not is_decided(state)


def reason(state, timeout, broker):
    """Why ``state`` is not ok (None when it is), in words an operator can act on."""
    if is_ok(state):
        return None
    if state.final_error:
        return f"cannot read the device status: {state.final_error}"
    if state.subscribe_error:
        return state.subscribe_error
    if state.payload_error:
        return state.payload_error
    waited = f"{timeout:g} s"
    if not state.connected:
        if state.message_seen:
            # Seen on the meters' emulator and possible on a meter: a message sent on the session from before the
            # push arrives after it, while the new settings never connect.
            text = (
                f"not connected: GET /api/v1/system never reported clouds.mqtc.connected true within {waited},"
                f" although messages arrived on {state.topic} (from the session before the push?)"
            )
        elif state.license and state.license not in LICENSES_WITH_MQTT:
            text = (
                f"the licence is {state.license}: the device's MQTT client only runs on"
                f" {' or '.join(LICENSES_WITH_MQTT)}, so it never connects"
            )
        elif state.mqtc_enabled is False:
            text = "the device reports its MQTT client disabled (clouds.mqtc.enabled is false)"
        else:
            text = (
                f"not connected to the broker {broker} within {waited} (clouds.mqtc.connected stayed false):"
                " check the broker address and port, the CA bundle, the client certificate and skip_cn_check"
            )
        if state.poll_error:
            text += f"; last status error: {state.poll_error}"
        return text
    return (
        f"connected to the broker, but no message arrived on {state.topic} within {waited}:"
        f" check the topic, the broker ACL (may {state.client_id} write it, may the monitoring identity read it?),"
        " the report interval and that a meter delivers data"
    )


def verdict(state, timeout, broker):
    """The per-device result the action returns."""
    return dict(
        ok=is_ok(state),
        connected=state.connected,
        message_seen=state.message_seen,
        messages=state.messages,
        connected_after=state.connected_after,
        message_after=state.message_after,
        polls=state.polls,
        client_id=state.client_id,
        topic=state.topic,
        reason=reason(state, timeout, broker),
    )


def build_states(devices, default_password=""):
    """DeviceState per device entry; raises VerifyError on duplicate names or shared topics.

    Two devices on one topic cannot be told apart by their messages, so that is refused.
    """
    states = []
    names = {}
    topics = naming.TopicClaims()
    problems = []
    for entry in devices or []:
        name = str(entry.get("name") or "")
        topic = entry.get("topic")
        if not name:
            problems.append("every device needs a name")
            continue
        if not topic:
            problems.append(f"{name}: topic is empty")
            continue
        if naming.topic_has_wildcard(topic):
            problems.append(f"{name}: topic {topic!r} must not contain MQTT wildcards")
            continue
        if name in names:
            problems.append(f"device {name} is listed twice")
            continue
        holder = topics.claim(topic, name)
        if holder is not None:
            problems.append(f"{name} and {holder} share the topic {topic}: their messages cannot be told apart")
            continue
        names[name] = True
        password = entry.get("password")
        states.append(
            DeviceState(
                name,
                entry.get("client_id") or name,
                topic,
                host=entry.get("host") or name,
                port=int(entry.get("port") or 80),
                password=default_password if password is None else password,
                template=template_text(entry.get("template")),
            )
        )
    if problems:
        raise VerifyError("; ".join(problems))
    return states


def summarize(results):
    """Names of the devices that passed and failed, sorted."""
    ok = sorted(name for name, item in results.items() if item["ok"])
    failed = sorted(name for name, item in results.items() if not item["ok"])
    return ok, failed


# -- gathering the evidence --------------------------------------------------------------------
class _Monitor:
    """One paho-mqtt client subscribed to every device topic; routes messages to device states."""

    def __init__(self, host, port, ca_path, cert_path, key_path, client_id, on_message):
        self.host, self.port = host, port
        self._on_message_cb = on_message
        self._connected = threading.Event()
        self._connect_rc = None
        self._suback = {}
        self._suback_cond = threading.Condition()
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_path)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_path, key_path)
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311, clean_session=True
        )
        self.client.tls_set_context(context)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._started = False

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self._connect_rc = reason_code
        self._connected.set()

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._suback_cond:
            self._suback[mid] = list(reason_codes)
            self._suback_cond.notify_all()

    def _on_message(self, client, userdata, message):
        self._on_message_cb(message.topic, bool(message.retain), message.payload)

    def connect(self, timeout):
        where = f"{self.host}:{self.port}"
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except ssl.SSLError as exc:
            raise VerifyError(f"the monitor's TLS handshake with the broker {where} failed: {exc}") from None
        except (OSError, ValueError) as exc:
            raise VerifyError(f"the monitor cannot reach the broker {where}: {exc}") from None
        self.client.loop_start()
        self._started = True
        if not self._connected.wait(timeout):
            raise VerifyError(f"the broker {where} did not answer the monitor's CONNECT within {timeout:g} s")
        if self._connect_rc is None or self._connect_rc.is_failure:
            raise VerifyError(f"the broker {where} refused the monitor: {self._connect_rc}")

    def subscribe(self, topics, timeout):
        """Subscribe in chunks; return {topic: error text} for the topics the broker refused."""
        pending = {}
        for start in range(0, len(topics), SUBSCRIBE_CHUNK):
            chunk = topics[start : start + SUBSCRIBE_CHUNK]
            rc, mid = self.client.subscribe([(topic, 0) for topic in chunk])
            if rc != paho.MQTT_ERR_SUCCESS:
                raise VerifyError(f"the monitor could not subscribe: {paho.error_string(rc)}")
            pending[mid] = chunk
        refused = {}
        deadline = time.monotonic() + timeout
        with self._suback_cond:
            while not all(mid in self._suback for mid in pending):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VerifyError(
                        f"the broker did not acknowledge the monitor's subscriptions within {timeout:g} s"
                    )
                self._suback_cond.wait(left)
            for mid, chunk in pending.items():
                codes = self._suback[mid]
                for index, topic in enumerate(chunk):
                    code = codes[index] if index < len(codes) else codes[-1]
                    if code.is_failure:
                        refused[topic] = (
                            f"the broker refused the monitor's subscription to {topic} ({code}):"
                            " check the broker ACL of the monitoring identity"
                        )
        return refused

    def close(self):
        if not self._started:
            return
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


class FleetVerifier:
    """Gather the evidence for every device, then decide. ``run()`` returns the action's result.

    ``client_factory(state, request_timeout, retries)`` builds the REST client of a device (tests
    may count calls through it); the default is the shared :class:`WhatWattClient`.
    """

    def __init__(
        self,
        devices,
        broker_host,
        ca_path,
        cert_path,
        key_path,
        broker_port=8883,
        monitor_client_id=None,
        password="",
        timeout=90.0,
        poll_interval=1.0,
        request_timeout=5.0,
        retries=2,
        workers=16,
        client_factory=None,
        clock=time.monotonic,
    ):
        if not HAS_PAHO:
            raise VerifyError(f"the Python library 'paho-mqtt' is required: {PAHO_IMPORT_ERROR}")
        self.states = build_states(devices, password)
        self.by_topic = {state.topic: state for state in self.states}
        self.by_name = {state.name: state for state in self.states}
        self._monitor = None
        self.broker_host = broker_host
        self.broker_port = int(broker_port)
        self.ca_path, self.cert_path, self.key_path = ca_path, cert_path, key_path
        self.monitor_client_id = monitor_client_id or f"whatwatt-verify-{uuid.uuid4().hex[:12]}"
        self.timeout = float(timeout)
        self.poll_interval = max(0.05, float(poll_interval))
        self.request_timeout = float(request_timeout)
        self.retries = int(retries)
        self.workers = max(1, int(workers))
        self.client_factory = client_factory or _default_client
        self.clock = clock
        self._lock = threading.Lock()
        self._start = None
        self._clients = {}

    @property
    def broker(self):
        return f"{self.broker_host}:{self.broker_port}"

    def _elapsed(self):
        return self.clock() - self._start

    def _on_message(self, topic, retained, payload=None):
        state = self.by_topic.get(topic)
        if state is None:
            return
        with self._lock:
            record_message(state, self._elapsed(), retained, payload)

    def _poll(self, state):
        client = self._clients.get(state.name)
        if client is None:
            client = self._clients[state.name] = self.client_factory(state, self.request_timeout, self.retries)
        try:
            system = client.system(refresh=True)
        except WhatWattError as exc:
            with self._lock:
                record_poll_error(state, exc)
            return
        with self._lock:
            record_poll(state, system, self._elapsed())

    def run(self):
        """Verify every device: ``start()``, every device armed at once, ``verify()``, ``close()``.

        Returns ``dict(devices={name: verdict}, ok_devices=[...], failed_devices=[...], elapsed=seconds)``.
        """
        if not self.states:
            return dict(devices={}, ok_devices=[], failed_devices=[], elapsed=0.0)
        try:
            self.start()
            return self.verify()
        finally:
            self.close()

    def start(self, armed=True):
        """Connect the monitor and subscribe to every device's topic; the clock starts when the broker acknowledged.

        With ``armed=False`` no message counts until ``arm(name)``: subscribe first, push the devices, arm each
        one when its push is done, so a device's first message after its push is never missed (a missed one
        costs a whole report interval).
        """
        self._start = self.clock()
        for state in self.states:
            state.armed = armed
        self._monitor = _Monitor(
            self.broker_host,
            self.broker_port,
            self.ca_path,
            self.cert_path,
            self.key_path,
            self.monitor_client_id,
            self._on_message,
        )
        self._monitor.connect(min(30.0, max(5.0, self.timeout)))
        refused = self._monitor.subscribe([state.topic for state in self.states], min(30.0, max(5.0, self.timeout)))
        # The clock for the devices starts once the monitor listens: a message counts only from here.
        self._start = self.clock()
        with self._lock:
            for topic, text in refused.items():
                self.by_topic[topic].subscribe_error = text

    def arm(self, name):
        """Messages of device ``name`` count from now on (its push is done)."""
        with self._lock:
            state = self.by_name[name]
            state.armed_at = self._elapsed()
            state.armed = True

    def verify(self, names=None):
        """Wait until the (armed) devices ``names`` (default all) are decided or the timeout passed; decide."""
        chosen = self.states if names is None else [self.by_name[name] for name in names]
        if not chosen:
            return dict(devices={}, ok_devices=[], failed_devices=[], elapsed=0.0)
        begin = self.clock()
        pool = concurrent.futures.ThreadPoolExecutor(min(self.workers, len(chosen)), "whatwatt-verify")
        try:
            self._wait(pool, chosen)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            results = {state.name: verdict(state, self.timeout, self.broker) for state in chosen}
        ok, failed = summarize(results)
        return dict(devices=results, ok_devices=ok, failed_devices=failed, elapsed=round(self.clock() - begin, 2))

    def close(self):
        if self._monitor is not None:
            self._monitor.close()
            self._monitor = None
        for client in self._clients.values():
            client.close()
        self._clients = {}

    def _wait(self, pool, states):
        deadline = self.clock() + self.timeout
        while True:
            round_start = self.clock()
            with self._lock:
                if all(is_decided(state) for state in states):
                    return
                due = [state for state in states if needs_poll(state)]
            if round_start >= deadline:
                return
            if due:
                concurrent.futures.wait([pool.submit(self._poll, state) for state in due])
            pause = min(self.poll_interval - (self.clock() - round_start), deadline - self.clock())
            # Short sleeps, so an early finish (every device decided by messages) ends the wait soon.
            while pause > 0:
                time.sleep(min(pause, 0.1))
                with self._lock:
                    if all(is_decided(state) for state in states):
                        return
                pause = min(self.poll_interval - (self.clock() - round_start), deadline - self.clock())


def _default_client(state, request_timeout, retries):
    return WhatWattClient(
        host=state.host,
        port=state.port,
        password=state.password or "",
        name=state.name,
        timeout=request_timeout,
        retries=retries,
        backoff=0.25,
        max_backoff=2.0,
    )
