# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one REST client of the WhatWatt Go API, shared by every device module.

Transport facts (see the collection's device notes): plain HTTP, JSON bodies up to about 8 kB,
no authentication unless Web UI protection is on; then an empty user name and the Web UI password,
HTTP Basic before firmware 1.10 and HTTP Digest ``MD5-sess`` from 1.10 on. Python's urllib (and so
``open_url``) rejects ``MD5-sess``, which is why this client uses ``requests``.

The client learns the scheme from the device's own challenge instead of asking for the firmware
first, so a task on an unprotected device costs exactly one request per call, and a protected
device one extra request per task (the first 401), never one per call.
"""

from __future__ import absolute_import, division, print_function


import json
import re
import time

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import meter_spec

try:
    import requests
    from requests.auth import HTTPBasicAuth, HTTPDigestAuth
    from requests.utils import parse_dict_header

    HAS_REQUESTS = True
    REQUESTS_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover - exercised only without requests
    HAS_REQUESTS = False
    REQUESTS_IMPORT_ERROR = exc
    HTTPDigestAuth = object

# The vendor documents request bodies "up to about 8 kB": some firmware may stop at 8000 bytes rather than 8192
# (emulator --max-body 8000), so the client never sends more than 8000; we measure the exact bytes we send.
MAX_BODY_BYTES = 8000
MIN_FIRMWARE = "1.7.6"
DIGEST_FIRMWARE = "1.10"

PATH_SYSTEM = "/api/v1/system"
PATH_SETTINGS = "/api/v1/settings"
PATH_MQTT = "/api/v1/mqtt/settings"

# Shared by every device module (documented in plugins/doc_fragments/device.py, written by tools/gen_spec.py).
COMMON_ARGUMENT_SPEC = meter_spec.options(meter_spec.CONNECTION)

_STATUS_TEXT = {
    400: "invalid parameter or value",
    401: "unauthorised (wrong or missing password; Web UI protection is on)",
    404: "unknown path, disabled feature or licence required",
    500: "internal error on the device",
    503: "temporarily unavailable",
}


class WhatWattError(Exception):
    """A device call failed; the message names the device, the call and the status.

    Messages never contain request bodies (they may hold keys or passwords).
    """

    def __init__(self, message, status=None, call=None, device=None, unreachable=False):
        super().__init__(message)
        self.message = message
        self.status = status
        self.call = call
        self.device = device
        # The meter never answered (timeout, connection refused or no route): worth retrying later, not now.
        self.unreachable = unreachable


def firmware_tuple(version):
    """Turn ``"1.10.2"`` (or ``"v1.7.6-beta"``) into ``(1, 10, 2)`` for numeric comparison.

    Raises ValueError when the string holds no number at all.
    """
    parts = []
    for piece in str(version).strip().lstrip("vV").split("."):
        match = re.match(r"\d+", piece)
        if not match:
            break
        parts.append(int(match.group(0)))
        if match.end() != len(piece):
            break
    if not parts:
        raise ValueError(f"not a firmware version: {version!r}")
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def firmware_at_least(version, minimum):
    """True when firmware ``version`` is numerically ``>= minimum``."""
    return firmware_tuple(version) >= firmware_tuple(minimum)


def encode_body(obj):
    """The exact bytes the client sends for ``obj`` (so size checks measure the real body)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode("utf-8")


def connection_options(args, task_vars, inventory_hostname=None):
    """Fill host, port and password defaults from the host's variables.

    ``host``: option, else ``ansible_host``, else the inventory name. ``port``: option, else
    ``whatwatt_api_port``, else 80. ``password``: option, else ``whatwatt_password``, else empty
    (no authentication). ``task_vars`` values must already be templated.
    """
    task_vars = task_vars or {}
    name = inventory_hostname or task_vars.get("inventory_hostname") or "device"
    host = args.get("host") or task_vars.get("ansible_host") or name
    port = args.get("port")
    if port is None:
        port = task_vars.get("whatwatt_api_port") or 80
    password = args.get("password")
    if password is None:
        password = task_vars.get("whatwatt_password") or ""
    try:
        port = int(port)
    except (TypeError, ValueError) as exc:
        raise WhatWattError(f"{name}: port {port!r} is not a number") from exc
    if not 1 <= port <= 65535:
        raise WhatWattError(f"{name}: port {port} is out of range 1..65535")
    return dict(name=str(name), host=str(host), port=port, password=str(password))


class _DigestAuth(HTTPDigestAuth):
    """requests' Digest auth (it handles ``MD5-sess`` and ``stale=true``), primed from a challenge.

    Priming with the 401 the client already received saves the extra round trip requests would
    otherwise spend collecting the same challenge again.
    """

    def prime(self, header):
        self.init_per_thread_state()
        challenge = parse_dict_header(re.sub(r"(?i)^\s*digest\s+", "", header))
        if "nonce" not in challenge or "realm" not in challenge:
            return
        self._thread_local.chal = challenge
        self._thread_local.last_nonce = challenge["nonce"]
        self._thread_local.nonce_count = 0


def _error_text(response):
    """The device's own error message from a JSON error body, else a short status description."""
    text = _STATUS_TEXT.get(response.status_code, response.reason or "error")
    try:
        body = response.json()
    except ValueError:
        return text
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        if message:
            return str(message)[:300]
    return text


class WhatWattClient:
    """One device, one ``requests.Session``, one task.

    ``name`` is how errors name the device (the inventory host name), ``host``/``port`` where it
    answers, ``password`` the Web UI password (empty: never authenticate). ``retries`` bounds the
    repeats after a 503 or a connection error, with exponential back-off starting at ``backoff``
    seconds (capped at ``max_backoff``).
    """

    def __init__(
        self,
        host,
        port=80,
        password="",
        name=None,
        timeout=10,
        retries=3,
        backoff=0.5,
        max_backoff=8.0,
        alternate_passwords=None,
        session=None,
        earlier_attempts=0,
        transport_retries=None,
    ):
        """``transport_retries``: how often a call that got no answer at all (timeout, refused, no route) is tried
        again (default ``retries``; a 503 is always retried ``retries`` times). ``earlier_attempts``: attempts an
        earlier client already made (a meter retried at the end of a batch), counted in the messages so that they
        say how often the meter was tried in all."""
        if not HAS_REQUESTS:
            raise WhatWattError(f"the Python library 'requests' is required: {REQUESTS_IMPORT_ERROR}")
        self.host = host
        self.port = int(port)
        self.name = name or host
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.earlier_attempts = max(0, int(earlier_attempts))
        self.transport_retries = self.retries if transport_retries is None else max(0, int(transport_retries))
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._passwords = [password or ""] + [p for p in (alternate_passwords or []) if p]
        self._password_index = 0
        self.auth_scheme = None  # None until the device asks for credentials: 'basic' or 'digest'
        self.calls = []  # (method, path, status) of every HTTP exchange, for tests and debugging
        self._system = None
        self.session = session or requests.Session()
        # Meters live on the LAN: no proxies or .netrc credentials from the environment.
        self.session.trust_env = False
        self.session.headers.update({"Accept": "application/json", "User-Agent": "whatwatt.secure_mqtt"})
        host_part = f"[{host}]" if ":" in host and not host.startswith("[") else host
        self.base_url = f"http://{host_part}:{self.port}"

    # -- life cycle ---------------------------------------------------------------------------
    def close(self):
        self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def label(self):
        """``whatwatt-007 (127.0.30.7)``: how every message names the device."""
        if self.name == self.host:
            return f"{self.host}:{self.port}"
        return f"{self.name} ({self.host})"

    @property
    def password_used(self):
        """Which password the device accepted: 0 = ``password``, 1.. = alternates, None = none needed."""
        return self._password_index if self.auth_scheme else None

    # -- transport ----------------------------------------------------------------------------
    def _delay(self, attempt, response=None):
        delay = min(self.max_backoff, self.backoff * (2**attempt))
        if response is not None:
            retry_after = response.headers.get("Retry-After", "")
            if retry_after.isdigit():
                delay = min(self.max_backoff, float(retry_after))
        if delay > 0:
            time.sleep(delay)

    def _use_auth(self, header, index):
        """Install credentials for the challenge in ``header``; False when we have none to offer."""
        while index < len(self._passwords) and not self._passwords[index]:
            index += 1
        if index >= len(self._passwords):
            return False
        password = self._passwords[index]
        if "digest" in header.lower():
            auth = _DigestAuth("", password)
            try:
                auth.prime(header)
            except Exception:  # noqa: BLE001 - priming is an optimisation only
                auth = _DigestAuth("", password)
            self.session.auth = auth
            self.auth_scheme = "digest"
        elif "basic" in header.lower():
            self.session.auth = HTTPBasicAuth("", password)
            self.auth_scheme = "basic"
        else:
            # No usable challenge: pick by firmware when we know it (Basic before 1.10).
            firmware = (self._system or {}).get("device", {}).get("firmware")
            if firmware and not firmware_at_least(firmware, DIGEST_FIRMWARE):
                self.session.auth = HTTPBasicAuth("", password)
                self.auth_scheme = "basic"
            else:
                self.session.auth = _DigestAuth("", password)
                self.auth_scheme = "digest"
        self._password_index = index
        return True

    def request(self, method, path, body=None, expect=(200, 204)):
        """Send one call and return the decoded JSON answer (None for an empty body).

        Raises WhatWattError naming the device, the call and the status. Request bodies never
        appear in errors.
        """
        call = f"{method} {path}"
        data = None
        headers = {}
        if body is not None:
            data = encode_body(body)
            if len(data) > MAX_BODY_BYTES:
                raise WhatWattError(
                    f"{self.label}: {call} not sent: the body is {len(data)} bytes,"
                    f" over the device's {MAX_BODY_BYTES}-byte limit",
                    call=call,
                    device=self.name,
                )
            headers["Content-Type"] = "application/json; charset=utf-8"
        attempt = 0
        no_answer = 0  # attempts that got no answer at all
        auth_tries = 0
        while True:
            try:
                response = self.session.request(
                    method,
                    self.base_url + path,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.exceptions.RequestException as exc:
                self.calls.append((method, path, None))
                if no_answer < self.transport_retries and isinstance(exc, (requests.ConnectionError, requests.Timeout)):
                    self._delay(attempt)
                    attempt += 1
                    no_answer += 1
                    continue
                reason = exc.__class__.__name__
                if isinstance(exc, requests.Timeout):
                    reason = f"timed out after {self.timeout}s"
                elif isinstance(exc, requests.ConnectionError):
                    reason = f"connection failed ({_short_reason(exc)})"
                raise WhatWattError(
                    f"{self.label}: {call} {reason} after {attempt + 1 + self.earlier_attempts} attempt(s)",
                    call=call,
                    device=self.name,
                    unreachable=isinstance(exc, (requests.ConnectionError, requests.Timeout)),
                ) from None
            self.calls.append((method, path, response.status_code))
            status = response.status_code
            if status == 401:
                challenge = response.headers.get("WWW-Authenticate", "")
                # First 401: authenticate as the device asks. A later 401 with credentials: try
                # the next candidate password (device_settings passes the new one as alternate).
                next_index = 0 if self.auth_scheme is None else self._password_index + 1
                if auth_tries <= len(self._passwords) and self._use_auth(challenge, next_index):
                    auth_tries += 1
                    continue
            if status == 503 and attempt < self.retries:
                self._delay(attempt, response)
                attempt += 1
                continue
            if status not in expect:
                raise WhatWattError(
                    f"{self.label}: {call} answered {status}: {_error_text(response)}",
                    status=status,
                    call=call,
                    device=self.name,
                )
            if status == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise WhatWattError(
                    f"{self.label}: {call} answered {status} with a body that is not JSON",
                    status=status,
                    call=call,
                    device=self.name,
                ) from None

    # -- API ----------------------------------------------------------------------------------
    def get_object(self, path):
        answer = self.request("GET", path)
        if not isinstance(answer, dict):
            raise WhatWattError(
                f"{self.label}: GET {path} answered with {type(answer).__name__}, expected a JSON object",
                call=f"GET {path}",
                device=self.name,
            )
        return answer

    def system(self, refresh=False):
        """``GET /api/v1/system`` once per client (identity, firmware, licence, MQTT state)."""
        if self._system is None or refresh:
            self._system = self.get_object(PATH_SYSTEM)
        return self._system

    def get_settings(self):
        return self.get_object(PATH_SETTINGS)

    def put_settings(self, body):
        return self.request("PUT", PATH_SETTINGS, body)

    def get_mqtt(self):
        return self.get_object(PATH_MQTT)

    def put_mqtt(self, body):
        return self.request("PUT", PATH_MQTT, body)


def _short_reason(exc):
    text = str(exc)
    for marker in ("Connection refused", "timed out", "No route to host", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return text[-160:]


def client_from_options(options, **kwargs):
    """Build a client from validated module options merged with ``connection_options``."""
    return WhatWattClient(
        host=options["host"],
        port=options["port"],
        password=options.get("password") or "",
        name=options.get("name"),
        timeout=options.get("timeout", 10),
        retries=options.get("retries", 3),
        **kwargs,
    )


# -- device facts (device_info) ----------------------------------------------------------------
INFO_ARGUMENT_SPEC = dict(
    min_firmware=dict(type="str", default=MIN_FIRMWARE),
    expect_model=dict(type="str"),
    require_license=dict(type="list", elements="str"),
    gather=dict(type="list", elements="str", default=["settings"], choices=["settings", "mqtt"]),
    set_facts=dict(type="bool", default=False),
)


def _dig(obj, *path):
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def device_facts(system, settings=None, mqtt=None):
    """The facts device_info returns, from ``/api/v1/system`` (and optionally settings, mqtt)."""
    device_id = _dig(system, "device", "id")
    facts = dict(
        id=device_id,
        name=_dig(system, "device", "name"),
        # The vendor's default system.host_name; the meter's own value replaces it when settings are read.
        hostname=f"whatwatt_{str(device_id)[-6:].upper()}" if device_id else None,
        model=_dig(system, "device", "model"),
        firmware=_dig(system, "device", "firmware"),
        build=_dig(system, "device", "build"),
        license=_dig(system, "device", "license", "type"),
        license_activation_date=_dig(system, "device", "license", "activation_date"),
        mqtt=dict(
            enabled=bool(_dig(system, "clouds", "mqtc", "enabled")),
            connected=bool(_dig(system, "clouds", "mqtc", "connected")),
        ),
        meter=dict(
            status=_dig(system, "meter", "status"),
            id=_dig(system, "meter", "id"),
            manufacturer=_dig(system, "meter", "manufacturer"),
            model=_dig(system, "meter", "model"),
            report_interval=_dig(system, "meter", "report_interval"),
        ),
        ip=_dig(system, "wifi", "ip") or _dig(system, "ethernet", "ip"),
    )
    if settings is not None:
        facts["hostname"] = _dig(settings, "system", "host_name") or facts["hostname"]
        facts["report_interval"] = _dig(settings, "services", "report_interval")
        facts["protection"] = bool(_dig(settings, "system", "protection"))
    if mqtt is not None:
        facts["mqtt"].update(
            url=mqtt.get("url", ""),
            client_id=mqtt.get("client_id", ""),
            topic=_dig(mqtt, "publish", "topic") or "",
            skip_cn_check=bool(mqtt.get("skip_cn_check")),
            # None: the meter does not report key_len (many firmware versions), not "no key".
            key_len=reported_int(mqtt.get("key_len")),
        )
    return facts


def reported_int(value):
    """A number the device reports (``key_len``, ``key_password_len``), or None when the meter omits it, sends null,
    a bool or something that is not a number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def check_device(facts, label, min_firmware=MIN_FIRMWARE, expect_model=None, require_license=None):
    """Problems with the device's identity: firmware too old, wrong model, missing licence."""
    problems = []
    firmware = facts.get("firmware")
    if min_firmware:
        try:
            if not firmware or not firmware_at_least(firmware, min_firmware):
                problems.append(
                    f"firmware {firmware} is below {min_firmware} (secure MQTT needs {MIN_FIRMWARE} or later)"
                )
        except ValueError:
            problems.append(f"firmware {firmware!r} cannot be compared with {min_firmware}")
    if expect_model and facts.get("model") != expect_model:
        problems.append(f"model is {facts.get('model')!r}, expected {expect_model!r}")
    if require_license:
        wanted = [str(x).upper() for x in require_license]
        if str(facts.get("license") or "").upper() not in wanted:
            problems.append(f"licence is {facts.get('license')!r}, one of {', '.join(wanted)} is required")
    return [f"{label}: {p}" for p in problems]


def run_info(client, options):
    """One device_info task: GET system (+ settings/mqtt when asked), check, return facts."""
    gather = options.get("gather") or []
    system = client.system()
    settings = client.get_settings() if "settings" in gather else None
    mqtt = client.get_mqtt() if "mqtt" in gather else None
    facts = device_facts(system, settings, mqtt)
    facts["auth"] = client.auth_scheme or "none"
    problems = check_device(
        facts,
        client.label,
        min_firmware=options.get("min_firmware"),
        expect_model=options.get("expect_model"),
        require_license=options.get("require_license"),
    )
    result = dict(changed=False, whatwatt=facts)
    if problems:
        result.update(failed=True, msg="; ".join(problems))
    return result


# -- action plugin glue (plain Python, so it stays testable) ----------------------------------------
HOST_VARS = ("inventory_hostname", "ansible_host", "whatwatt_api_port", "whatwatt_password", "whatwatt_client_id")


def resolve_host_vars(task_vars, template=None):
    """The few host variables the device actions read, templated (vaulted values decrypted)."""
    resolved = {}
    for name in HOST_VARS:
        value = (task_vars or {}).get(name)
        if value is not None and template is not None:
            value = template(value)
        resolved[name] = None if value is None else str(value)
    return resolved


def run_action(options, host_vars, runner, **client_kwargs):
    """Connect with ``options`` (host, port, password, timeout, retries), run ``runner(client)``.

    Returns the runner's result, or ``failed`` with the WhatWattError message: one meter's
    failure is that meter's task result and never stops the others.
    """
    try:
        conn = connection_options(options, host_vars, host_vars.get("inventory_hostname"))
        with client_from_options(dict(options, **conn), **client_kwargs) as client:
            return runner(client)
    except WhatWattError as exc:
        return dict(failed=True, changed=False, msg=exc.message)
