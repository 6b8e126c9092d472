# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One emulated WhatWatt Go: REST API, authentication, faults, persistence, MQTT client."""

import asyncio
import dataclasses
import datetime
import logging
import os
import time

from . import http
from .addressing import device_id_for_ip, hostname_for_id
from .auth import Authenticator, uses_digest
from .meter import Meter, render, variables_list
from .mqtt import MqttLink
from .persist import load_state, save_state
from .settings import (
    SettingsError,
    apply_mqtt,
    apply_system,
    mqtt_defaults,
    mqtt_inspection,
    mqtt_view,
    system_defaults,
    system_view,
)

LOG = logging.getLogger("whatwatt_emulator.device")
LICENSES = ("FREE", "PLUS", "PRO")


@dataclasses.dataclass
class DeviceOptions:
    """Behaviour switches shared by a fleet (CLI flags map 1:1)."""

    firmware: str = "1.10.2"
    model: str = "WW_Go_1.2"
    license: str = "PLUS"
    password: str | None = None  # set: Web UI protection on with this password (first start only)
    report_interval: int = 30  # initial services.report_interval (first start only)
    control: bool = True  # serve /_emulator/*
    # Undocumented behaviours (see ../shared/whatwatt-go-api.md), defaults = the project's assumptions.
    get_returns_certificates: bool = False
    show_key_len: bool = True
    url_port_required: bool = False  # True: a URL without a port is rejected instead of 1883/8883
    nonce_lifetime: float = 300.0
    reboot_seconds: float = 3.0
    utc_offset: float = 0.0  # hours: the device reports its dates in local time (the vendor's docs)
    # Switches for behaviour the vendor leaves open (see docs/emulator.md).
    name_check_ignores_ip_sans: bool = False  # skip_cn_check false: only DNS SANs/CN count, never IP SANs
    single_broker_certificate: bool = False  # broker.certificate keeps only its first certificate
    max_body: int = 8192  # request body limit in bytes (the docs: "about 8 kB")


class Device:
    """State and behaviour of one meter; runs on the fleet's event loop."""

    def __init__(self, index, ip, port, state_dir, options, loop, executor, device_id=None):
        self.index = index
        self.ip = ip
        self.port = port
        self.options = options
        self.loop = loop
        self.loop_thread = None
        self.device_id = device_id or device_id_for_ip(ip)
        self.hostname = hostname_for_id(self.device_id)
        self.state_path = os.path.join(state_dir, f"{self.device_id}.json")
        self.license_type = options.license
        self.firmware = options.firmware
        self.clock_offset = 0.0  # seconds the device's clock is off (set through /_emulator/clock)
        self.meter = Meter(self.device_id)
        self.auth = Authenticator(f"{self.hostname}.local", options.nonce_lifetime)
        self.mqtt_link = MqttLink(self, loop, executor, state_dir)
        self.faults = []
        self.requests = 0
        self.online = False
        self.booted = time.time()
        self.last_reboot = self.booted
        self._server = None
        self._conns = set()
        saved = load_state(self.state_path)
        if saved:
            self.mqtt = saved["mqtt"]
            self.system = saved["system"]
        else:
            self.mqtt = mqtt_defaults()
            self.system = system_defaults(self.hostname, options.report_interval)
            if options.password is not None:
                self.system["system"]["protection"] = True
                self.system["system"]["password"] = options.password
            self.save()

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self):
        self._server = await asyncio.start_server(
            self._serve, host=self.ip, port=self.port, reuse_address=True, limit=http.MAX_HEADER, backlog=64
        )
        self.online = True
        self.mqtt_link.configure()

    async def stop(self):
        """Power off: MQTT DISCONNECT, listener closed, state saved."""
        self.online = False
        self.mqtt_link.shutdown(reason=None)
        await self._close_listener()
        self.save()

    async def _close_listener(self):
        if self._server is not None:
            self._server.close()
            for writer in list(self._conns):
                writer.close()
            self._conns.clear()
            await self._server.wait_closed()
            self._server = None

    async def _reboot(self):
        await asyncio.sleep(0.05)  # let the 204 leave first
        self.online = False
        self.mqtt_link.shutdown(reason=None)
        await self._close_listener()
        await asyncio.sleep(self.options.reboot_seconds)
        self.booted = self.last_reboot = time.time()
        await self.start()

    def save(self):
        save_state(self.state_path, {"mqtt": self.mqtt, "system": self.system})

    def factory_reset(self):
        self.mqtt = mqtt_defaults()
        self.system = system_defaults(self.hostname, self.options.report_interval)
        self.save()
        self.mqtt_link.configure()

    # -- facts used by the MQTT client -----------------------------------------------------------
    @property
    def report_interval(self):
        return self.system["services"]["report_interval"]

    @property
    def mqtt_connected(self):
        return self.mqtt_link.connected

    @property
    def protected(self):
        """The vendor: authentication is enforced when protection is on **and** a password is set."""
        return bool(self.system["system"]["protection"]) and bool(self.system["system"]["password"])

    @property
    def realm(self):
        """The Digest realm follows the host name: ``<host_name>.local``."""
        return f"{self.system['system']['host_name'] or self.hostname}.local"

    def now(self):
        """The device's clock (UTC, with its offset) as an aware datetime."""
        return datetime.datetime.fromtimestamp(time.time() + self.clock_offset, datetime.UTC)

    def local(self, when):
        """``when`` in the device's local time (``--utc-offset``), naive."""
        return (when + datetime.timedelta(hours=self.options.utc_offset)).replace(tzinfo=None)

    def license_allows_mqtt(self):
        return self.license_type in ("PLUS", "PRO")

    def render_payload(self):
        if not self.meter.present:
            return None  # the device publishes only while a meter delivers data
        self.meter.update()
        return render(self.mqtt["publish"]["template"], self.meter.values(self, now=time.time() + self.clock_offset))

    def snapshot(self):
        """The inspection view served at ``GET /_emulator/state`` (no secret, no key)."""
        link = self.mqtt_link
        return {
            "index": self.index,
            "ip": self.ip,
            "port": self.port,
            "id": self.device_id,
            "hostname": self.hostname,
            "firmware": self.firmware,
            "license": self.license_type,
            "auth": ("digest" if uses_digest(self.firmware) else "basic") if self.protected else "none",
            "host_name": self.system["system"]["host_name"],
            "clock_offset": self.clock_offset,
            "settings": mqtt_inspection(self.mqtt),
            "report_interval": self.report_interval,
            "protection": self.system["system"]["protection"],
            "mqtt": {
                "connected": link.connected,
                "connecting": link.connecting,
                "last_error": link.last_error,
                "connects": link.connects,
                "attempts": link.attempts,
                "published": link.published,
            },
            "faults": [dict(f) for f in self.faults],
            "requests": self.requests,
            "meter_present": self.meter.present,
        }

    # -- HTTP --------------------------------------------------------------------------------------
    async def _serve(self, reader, writer):
        self._conns.add(writer)
        try:
            await http.serve_connection(self.handle, reader, writer, self.options.max_body)
        finally:
            self._conns.discard(writer)

    async def handle(self, request):
        if request.path.startswith("/_emulator/"):
            if not self.options.control:
                return http.error(404, "not_found", "no such endpoint")
            return self._control(request)
        self.requests += 1
        fault = self._take_fault()
        if fault is not None:
            if fault.get("drop"):
                return http.DROP
            if fault.get("delay"):
                await asyncio.sleep(float(fault["delay"]))
            if fault.get("status"):
                return self._fault_response(int(fault["status"]))
        if self.protected:
            digest = uses_digest(self.firmware)
            self.auth.realm = self.realm
            challenge = self.auth.check(
                request.method,
                request.headers.get("authorization"),
                self.system["system"]["password"],
                digest,
                body=request.body or b"",
            )
            if challenge is not None:
                return http.Response(
                    401,
                    {"error": "unauthorized", "message": "authentication required"},
                    {"WWW-Authenticate": challenge},
                )
        response = self._route(request)
        if fault is not None and fault.get("malformed_json") and response.payload:
            response.payload = response.payload[: max(1, len(response.payload) // 2)]
        return response

    def _fault_response(self, status):
        if status == 401:
            digest = uses_digest(self.firmware)
            self.auth.realm = self.realm
            return http.Response(
                401, {"error": "unauthorized", "message": "authentication required"},
                {"WWW-Authenticate": self.auth.challenge(digest)},
            )  # fmt: skip
        if status == 503:
            return http.error(503, "unavailable", "temporarily unavailable, retry later")
        return http.error(status, "fault", "injected fault")

    def _take_fault(self):
        now = time.time()
        while self.faults:
            fault = self.faults[0]
            if "until" in fault and now > fault["until"]:
                self.faults.pop(0)
                continue
            if "count" in fault:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    self.faults.pop(0)
            return fault
        return None

    def _route(self, request):
        path, method = request.path.rstrip("/"), request.method
        routes = {
            "/api/v1/mqtt/settings": ("GET", "POST", "PUT"),
            "/api/v1/settings": ("GET", "POST", "PUT"),
            "/api/v1/system": ("GET",),
            "/api/v1/variables": ("GET",),
            "/api/v1/report": ("GET",),
            "/api/v1/reboot": ("POST",),
            "/api/v1/restore": ("POST",),
        }
        if path not in routes:
            return http.error(404, "not_found", "no such endpoint", path=request.path)
        if method not in routes[path]:
            return http.error(405, "method_not_allowed", "method not allowed", allowed=list(routes[path]))
        body = None
        if method in ("POST", "PUT") and path in ("/api/v1/mqtt/settings", "/api/v1/settings"):
            try:
                body = request.json()
            except (ValueError, UnicodeDecodeError) as err:
                return http.error(400, "invalid_json", f"body is not valid JSON: {err}")
        if path == "/api/v1/mqtt/settings":
            if method == "GET":
                return http.Response(200, mqtt_view(self.mqtt, self.options))
            try:
                new = apply_mqtt(self.mqtt, body, replace=(method == "POST"), options=self.options)
            except SettingsError as err:
                return http.Response(400, err.body())
            self.mqtt = new
            self.save()
            LOG.info("%s: MQTT settings written (%s)", self.hostname, method)
            self.mqtt_link.configure()  # settings apply at once: the client reconnects immediately
            return http.Response(200, mqtt_view(self.mqtt, self.options))
        if path == "/api/v1/settings":
            if method == "GET":
                return http.Response(200, system_view(self.system))
            old_interval = self.report_interval
            try:
                self.system = apply_system(self.system, body, replace=(method == "POST"), hostname=self.hostname)
            except SettingsError as err:
                return http.Response(400, err.body())
            self.save()
            if self.report_interval != old_interval:
                self.mqtt_link.reschedule()
            return http.Response(200, system_view(self.system))
        if path == "/api/v1/system":
            return http.Response(200, self.system_info())
        if path in ("/api/v1/variables", "/api/v1/report") and not self.license_allows_mqtt():
            # The vendor: REST data endpoints need PLUS or PRO (docs/20-rest/license-requirements.md).
            return http.error(404, "license_required", "License required")
        if path == "/api/v1/variables":
            self.meter.update()
            return http.Response(200, variables_list(self.meter.values(self, now=time.time() + self.clock_offset)))
        if path == "/api/v1/report":
            return http.Response(200, self.report())
        if path == "/api/v1/reboot":
            asyncio.ensure_future(self._reboot())
            return http.Response(204)
        # /api/v1/restore: factory reset (MQTT settings and certificates erased), then the device reboots.
        self.factory_reset()
        asyncio.ensure_future(self._reboot())
        return http.Response(204)

    # -- bodies ----------------------------------------------------------------------------------
    def system_info(self):
        """``GET /api/v1/system`` in the vendor's documented shape; dates in the device's local time."""
        now = self.local(self.now())
        boot = self.local(datetime.datetime.fromtimestamp(self.last_reboot + self.clock_offset, datetime.UTC))
        mac = self.device_id
        meter_ok = self.meter.present
        return {
            "device": {
                "name": self.system["system"]["name"],
                "id": self.device_id,
                "model": self.options.model,
                "firmware": self.firmware,
                "build": "emulator",
                "upgrade_capable": True,
                "date": now.strftime("%Y-%m-%d"),
                "time": now.strftime("%H:%M:%S"),
                "time_since_boot": int(time.time() - self.booted),
                "last_reboot": {"date": boot.strftime("%Y-%m-%d"), "time": boot.strftime("%H:%M:%S")},
                "plug": {"v_usb": 5.12, "v_mbus": 13.9, "v_p1": 0.0, "v_scap": 4.87},
                "license": {"type": self.license_type, "activation_date": "2025-01-01T00:00:00Z"},
            },
            "clouds": {
                "whatwatt": {"enabled": False, "connected": False, "registered": False},
                "mystrom": {"enabled": False, "status": "DISABLED"},
                "solar_manager": {"enabled": False, "connected": False},
                "mqtc": {"enabled": bool(self.mqtt["enable"]), "connected": self.mqtt_link.connected},
                "stromkonto": {"enabled": False, "connected": False},
            },
            "services": {"berry": {"execution_status": {"state": "IDLE"}}},
            "meter": {
                "status": "OK" if meter_ok else "NO DATA",
                "interface": "MBUS",
                "id": self.meter.meter_id,
                "manufacturer": "Landis+Gyr",
                "type": "LGZ1030784855204",
                "model": "E450",
                "protocol": "DLMS",
                "protocol_version": "",
                "report_interval": 5.0,
                "enc_en": False,
                "auth_en": False,
                "tariff": 1,
                "date": now.strftime("%Y-%m-%d"),
                "time": now.strftime("%H:%M:%S"),
            },
            "wifi": {
                "ssid": "emulated",
                "bssid": "DC15C84FBAB6",
                "channel": 6,
                "ht": "20",
                "rssi": -55,
                "signal": 90,
                "auth_mode": "WPA2",
                "pairwise_cipher": "CCMP",
                "group_cipher": "CCMP",
                "phy": "bgn",
                "wps": False,
                "country": "CH",
                "mac": mac,
                "ip": self.ip,
                "mask": "255.0.0.0",
                "gateway": "127.0.0.1",
                "dns": "127.0.0.1",
                "status": "OK",
                "mode": "STA",
            },
            "ethernet": {"mac": mac[:-1] + "F", "status": "Down", "ip": "", "mask": "", "gateway": "", "dns": ""},
            "sd_card": {"installed": False, "type": "", "size": 0, "speed": 0},
        }

    def report(self):
        self.meter.update()
        values = self.meter.values(self)
        return {
            "report": {
                "id": 1,
                "interval": 5,
                "tariff": values["tariff"],
                "date_time": values["meter.date_time"],
                "instantaneous_power": {"active": {"positive": {"total": values["1_7_0"]}}},
                "energy": {"active": {"positive": {"total": values["1_8_0"]}, "negative": {"total": values["2_8_0"]}}},
                "voltage": {"l1": values["32_7_0"], "l2": values["52_7_0"], "l3": values["72_7_0"]},
            },
            "meter": {"status": "OK" if self.meter.present else "NO DATA", "id": self.meter.meter_id},
            "system": {"id": self.device_id, "date_time": values["sys.date_time"]},
        }

    # -- control path (not part of the vendor API) --------------------------------------------------
    def _control(self, request):
        path, method = request.path.rstrip("/"), request.method
        body = {}
        if method == "POST" and request.body:
            try:
                body = request.json()
            except (ValueError, UnicodeDecodeError):
                return http.error(400, "invalid_json", "body is not valid JSON")
            if not isinstance(body, dict):
                return http.error(400, "invalid_json", "body must be an object")
        if path == "/_emulator/state" and method == "GET":
            return http.Response(200, self.snapshot())
        if path == "/_emulator/fault":
            if method == "GET":
                return http.Response(200, {"faults": self.faults})
            if method == "DELETE":
                self.faults.clear()
                return http.Response(200, {"faults": []})
            if method == "POST":
                return self._add_fault(body)
        if path == "/_emulator/factory_reset" and method == "POST":
            self.factory_reset()
            snapshot = self.snapshot()
            if body.get("reboot"):
                asyncio.ensure_future(self._reboot())  # as /api/v1/restore does
            return http.Response(200, snapshot)
        if path == "/_emulator/license" and method == "POST":
            kind = str(body.get("type", "")).upper()
            if kind not in LICENSES:
                return http.error(400, "invalid_value", "type must be one of {}".format(", ".join(LICENSES)))
            self.license_type = kind
            self.mqtt_link.configure()
            return http.Response(200, self.snapshot())
        if path == "/_emulator/firmware" and method == "POST":
            version = str(body.get("version", "")).strip()
            if not version or not version[0].isdigit():
                return http.error(400, "invalid_value", "version must be a firmware version such as 1.7.5")
            self.firmware = version
            return http.Response(200, self.snapshot())
        if path == "/_emulator/clock" and method == "POST":
            try:
                self.clock_offset = float(body.get("offset", 0))
            except (TypeError, ValueError):
                return http.error(400, "invalid_value", "offset must be a number of seconds")
            return http.Response(200, self.snapshot())
        if path == "/_emulator/meter" and method == "POST":
            self.meter.present = bool(body.get("present", True))
            return http.Response(200, self.snapshot())
        return http.error(404, "not_found", "no such control endpoint")

    def _add_fault(self, body):
        if body.get("mqtt_drop"):
            self.mqtt_link.drop()
            return http.Response(200, self.snapshot())
        fault = {}
        if "status" in body:
            if body["status"] not in (400, 401, 404, 500, 503):
                return http.error(400, "invalid_value", "status must be 400, 401, 404, 500 or 503")
            fault["status"] = body["status"]
        if "delay" in body:
            fault["delay"] = float(body["delay"])
        for flag in ("drop", "malformed_json"):
            if body.get(flag):
                fault[flag] = True
        if not fault:
            return http.error(400, "invalid_value", "give status, delay, drop, malformed_json or mqtt_drop")
        if "seconds" in body:
            fault["until"] = time.time() + float(body["seconds"])
        else:
            fault["count"] = int(body.get("count", 1))
        self.faults.append(fault)
        return http.Response(200, {"faults": self.faults})
