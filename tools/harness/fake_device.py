"""A small WhatWatt Go stand-in for the device-module unit tests (one device, one loopback port).

Only what the vendor documents: GET/PUT/POST on the three endpoints, PUT merging, write-only
secrets shown as ``*_len``, the 8 kB body limit, Basic auth before firmware 1.10 and Digest
``MD5-sess`` (qop auth, realm = hostname, stale nonces) from 1.10 on, all with an empty user name.
The full emulator lives in tools/whatwatt_emulator; the device-module tests must not depend on it.
"""

import base64
import copy
import hashlib
import json
import os
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from whatwatt_emulator.settings import mqtt_defaults

MAX_BODY = 8192

SECRET_FIELDS = (("client", "key"), ("client", "key_password"), ("password",))


def _md5(text):
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324 - the protocol demands MD5


def _firmware(version):
    return tuple(int(x) for x in re.findall(r"\d+", version)[:3])


class FakeDevice:
    """One device on ``address`` and a free port; use as a context manager."""

    def __init__(
        self,
        address="127.0.30.1",
        firmware="1.10.3",
        model="WW_Go_1.2",
        license_type="PLUS",
        protection=False,
        password="",
        echo_certificates=False,
        key_len="when_set",
    ):
        self.address = address
        # "when_set": key_len/key_password_len only while set; "always": 0 when not set; "never": not reported.
        self.key_len_reporting = key_len
        self.device_id = "A0B1C2D3E4F5"
        self.hostname = "whatwatt-D3E4F5"
        self.system = {
            "device": {
                "name": "Test meter",
                "id": self.device_id,
                "model": model,
                "firmware": firmware,
                "build": "20260101",
                "license": {"type": license_type, "activation_date": "2026-01-01"},
            },
            "clouds": {"mqtc": {"enabled": False, "connected": False}},
            "meter": {"status": "OK", "id": "12345", "manufacturer": "LGZ", "model": "E450", "report_interval": 5},
            "wifi": {"ip": address},
        }
        self.settings = {
            "system": {
                "name": "Test meter",
                "host_name": self.hostname,
                "protection": protection,
                "password": password,
            },
            "services": {"report_interval": 30},
        }
        self.mqtt = mqtt_defaults()  # the factory defaults, as the emulator has them
        self.echo_certificates = echo_certificates
        self.log = []  # (method, path, status, auth header or None, body bytes)
        self.inject = []  # (status, body dict or None, headers) answered before normal processing
        self.stale_nonces = set()
        self.nonces = set()
        self.delay = 0
        self.lock = threading.Lock()
        self.server = None
        self.port = None

    # -- life cycle
    def __enter__(self):
        device = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                device.handle(self, "GET")

            def do_PUT(self):
                device.handle(self, "PUT")

            def do_POST(self):
                device.handle(self, "POST")

        self.server = ThreadingHTTPServer((self.address, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    # -- helpers for tests
    @property
    def firmware(self):
        return self.system["device"]["firmware"]

    def calls(self):
        return [(m, p, s) for m, p, s, _a, _b in self.log]

    def clear_log(self):
        self.log.clear()

    def factory_reset(self):
        self.mqtt = mqtt_defaults()  # the factory defaults, as the emulator has them
        self.system["clouds"]["mqtc"] = {"enabled": False, "connected": False}

    def mqtt_view(self):
        view = copy.deepcopy(self.mqtt)
        client = view.pop("client")
        broker = view.pop("broker")
        view["password_len"] = len(view.pop("password") or "")
        if self.key_len_reporting == "always" or (self.key_len_reporting == "when_set" and client.get("key")):
            view["key_len"] = len(client.get("key") or "")
        if self.key_len_reporting == "always" or (self.key_len_reporting == "when_set" and client.get("key_password")):
            view["key_password_len"] = len(client.get("key_password") or "")
        if self.echo_certificates:
            view["broker"] = {"certificate": broker.get("certificate")}
            view["client"] = {"certificate": client.get("certificate")}
        return view

    def settings_view(self):
        view = copy.deepcopy(self.settings)
        view["system"].pop("password", None)
        return view

    # -- protocol
    def _challenge(self, stale=False):
        nonce = base64.b64encode(os.urandom(12)).decode()
        self.nonces.add(nonce)
        header = f'Digest realm="{self.hostname}", qop="auth", algorithm=MD5-sess, nonce="{nonce}", opaque="0paque"'
        if stale:
            header += ", stale=true"
        return header

    def _authorised(self, method, path, header):
        """None when authorised, else the WWW-Authenticate header to send with a 401."""
        if not self.settings["system"]["protection"]:
            return None
        password = self.settings["system"]["password"]
        if _firmware(self.firmware) < (1, 10):
            expected = "Basic " + base64.b64encode((":" + password).encode()).decode()
            return None if header == expected else f'Basic realm="{self.hostname}"'
        if not header or not header.startswith("Digest "):
            return self._challenge()
        fields = {}
        for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:]):
            fields[key] = quoted or bare
        if fields.get("username") != "" or fields.get("realm") != self.hostname:
            return self._challenge()
        if fields.get("algorithm", "").upper() != "MD5-SESS" or fields.get("qop") != "auth":
            return self._challenge()
        nonce = fields.get("nonce")
        if nonce in self.stale_nonces:
            return self._challenge(stale=True)
        if nonce not in self.nonces or fields.get("uri") != path:
            return self._challenge()
        ha1 = _md5(f"{_md5(':' + self.hostname + ':' + password)}:{nonce}:{fields.get('cnonce')}")
        ha2 = _md5(f"{method}:{path}")
        expected = _md5(f"{ha1}:{nonce}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
        return None if fields.get("response") == expected else self._challenge()

    def handle(self, handler, method):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = handler.path
        auth = handler.headers.get("Authorization")
        with self.lock:
            status, answer, headers = self._route(method, path, auth, body)
            self.log.append((method, path, status, auth, body))
        if self.delay:
            threading.Event().wait(self.delay)
        data = b"" if answer is None else json.dumps(answer).encode()
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        if data:
            handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _route(self, method, path, auth, body):
        if self.inject:
            return self.inject.pop(0)
        challenge = self._authorised(method, path, auth)
        if challenge:
            return 401, {"error": "unauthorized", "message": "Unauthorized"}, {"WWW-Authenticate": challenge}
        if len(body) > MAX_BODY:
            return 400, {"error": "too_large", "message": "Request body too large"}, {}
        data = None
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                return 400, {"error": "invalid_json", "message": "Invalid JSON"}, {}
        if path == "/api/v1/system" and method == "GET":
            return 200, self.system, {}
        if path == "/api/v1/settings":
            if method == "GET":
                return 200, self.settings_view(), {}
            return self._put_settings(data)
        if path == "/api/v1/mqtt/settings":
            if method == "GET":
                return 200, self.mqtt_view(), {}
            return self._put_mqtt(data, replace=method == "POST")
        return 404, {"error": "not_found", "message": "Not found"}, {}

    def _put_settings(self, data):
        merged = copy.deepcopy(self.settings)
        for section in ("system", "services"):
            merged[section].update((data or {}).get(section) or {})
        interval = merged["services"]["report_interval"]
        if not isinstance(interval, int) or not 1 <= interval <= 3600:
            return 400, {"error": "invalid_parameter", "message": "services.report_interval out of range"}, {}
        if len(merged["system"].get("password") or "") > 31:
            return 400, {"error": "invalid_parameter", "message": "system.password too long"}, {}
        self.settings = merged
        return 200, self.settings_view(), {}

    def _put_mqtt(self, data, replace):
        merged = mqtt_defaults() if replace else copy.deepcopy(self.mqtt)
        for key, value in (data or {}).items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
            else:
                merged[key] = value
        if not re.match(r"^(mqtts?://.+)?$", merged["url"]) or len(merged["url"]) > 127:
            return 400, {"error": "invalid_parameter", "message": "Invalid url"}, {}
        if len(merged["client_id"]) > 63 or len(merged["publish"]["topic"]) > 127:
            return 400, {"error": "invalid_parameter", "message": "Invalid client_id or topic"}, {}
        if len(merged["publish"]["template"]) > 1023:
            return 400, {"error": "invalid_parameter", "message": "Template too long"}, {}
        self.mqtt = merged
        self.system["clouds"]["mqtc"]["enabled"] = bool(merged["enable"])
        return 200, self.mqtt_view(), {}
