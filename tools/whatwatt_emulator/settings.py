# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The device's settings objects: defaults, POST/PUT semantics, validation, the GET view.

Pure functions on plain dicts, so unit tests drive them without a server.
"""

import copy
import hashlib
import re
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

# --- /api/v1/mqtt/settings -------------------------------------------------------------------

MQTT_STRING_LIMITS = {"url": 127, "username": 127, "password": 127, "client_id": 63}
PUBLISH_LIMITS = {"topic": 127, "template": 1023}
KEY_PASSWORD_LIMIT = 255
PEM_FIELDS = (("broker", "certificate"), ("client", "certificate"), ("client", "key"), ("client", "key_password"))


class SettingsError(Exception):
    """Invalid input: answered 400 with ``{"error", "message", "details"}``."""

    def __init__(self, error, message, **details):
        super().__init__(message)
        self.error = error
        self.message = message
        self.details = details

    def body(self):
        return {"error": self.error, "message": self.message, "details": self.details}


def mqtt_defaults():
    """Factory defaults of the MQTT client settings (internal form, secrets included)."""
    return {
        "enable": False,
        "url": "",
        "username": "",
        "password": "",
        "client_id": "",
        "skip_cn_check": False,
        "publish": {"topic": "", "template": ""},
        "broker": {"certificate": None},
        "client": {"certificate": None, "key": None, "key_password": None},
    }


def _check_bool(name, value):
    if not isinstance(value, bool):
        raise SettingsError("invalid_type", f"{name} must be a boolean", field=name)


def _check_str(name, value, limit, nullable=False):
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise SettingsError("invalid_type", f"{name} must be a string", field=name)
    if len(value) > limit:
        raise SettingsError("out_of_range", f"{name} is too long ({len(value)} > {limit})", field=name, max=limit)


def parse_url(url, require_port=False):
    """(scheme, host, port) of an MQTT URL; ValueError when it is not one the device accepts."""
    if not url.startswith(("mqtt://", "mqtts://")):
        raise ValueError("url must start with mqtt:// or mqtts://")
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as err:
        raise ValueError("invalid port in url") from err
    host = parts.hostname
    if not host:
        raise ValueError("url has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("url must be scheme://host[:port]")
    if port is None:
        if require_port:
            raise ValueError("url has no port")
        port = 8883 if parts.scheme == "mqtts" else 1883
    return parts.scheme, host, port


def _validate_body(body, options):
    if not isinstance(body, dict):
        raise SettingsError("invalid_json", "body must be a JSON object")
    for name in ("enable", "skip_cn_check"):
        if name in body:
            _check_bool(name, body[name])
    for name, limit in MQTT_STRING_LIMITS.items():
        if name in body:
            _check_str(name, body[name], limit)
    if body.get("url"):
        try:
            parse_url(body["url"], require_port=options.url_port_required)
        except ValueError as err:
            raise SettingsError("invalid_url", str(err), field="url") from err
    for group, fields in (("publish", PUBLISH_LIMITS), ("broker", None), ("client", None)):
        if group not in body:
            continue
        if not isinstance(body[group], dict):
            raise SettingsError("invalid_type", f"{group} must be an object", field=group)
        sub = body[group]
        if group == "publish":
            for name, limit in fields.items():
                if name in sub:
                    _check_str("publish." + name, sub[name], limit)
        elif group == "broker":
            if "certificate" in sub:
                _check_str("broker.certificate", sub["certificate"], 8192, nullable=True)
        else:
            for name in ("certificate", "key"):
                if name in sub:
                    _check_str("client." + name, sub[name], 8192, nullable=True)
            if "key_password" in sub:
                _check_str("client.key_password", sub["key_password"], KEY_PASSWORD_LIMIT, nullable=True)


def _merge(base, body):
    out = copy.deepcopy(base)
    for key, value in body.items():
        if key not in out:
            continue  # unknown fields are ignored, as the firmware does with extra keys
        if isinstance(out[key], dict):
            out[key].update({k: v for k, v in value.items() if k in out[key]})
        else:
            out[key] = value
    return out


def _load_certs(pem, field):
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as err:
        raise SettingsError("invalid_pem", f"{field} is not a valid PEM certificate", field=field) from err
    return certs


def _check_pems(settings):
    if settings["broker"]["certificate"] is not None:
        _load_certs(settings["broker"]["certificate"], "broker.certificate")
    client = settings["client"]
    cert = None
    if client["certificate"] is not None:
        cert = _load_certs(client["certificate"], "client.certificate")[0]
    key = None
    if client["key"] is not None:
        password = client["key_password"].encode("utf-8") if client["key_password"] else None
        try:
            key = serialization.load_pem_private_key(client["key"].encode("ascii"), password=password)
        except TypeError as err:
            raise SettingsError(
                "invalid_key", "client.key is encrypted and needs the right client.key_password", field="client.key"
            ) from err
        except (ValueError, UnicodeEncodeError) as err:
            raise SettingsError(
                "invalid_pem", "client.key is not a valid PEM private key (or the password is wrong)",
                field="client.key",
            ) from err  # fmt: skip
    if cert is not None and key is None:
        raise SettingsError("missing_key", "client.certificate needs client.key", field="client.key")
    if cert is not None and key is not None:
        fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if cert.public_key().public_bytes(*fmt) != key.public_key().public_bytes(*fmt):
            raise SettingsError("key_mismatch", "client.key does not match client.certificate", field="client.key")


def apply_mqtt(current, body, replace, options):
    """New MQTT settings after a POST (``replace=True``) or PUT; raises SettingsError."""
    _validate_body(body, options)
    base = mqtt_defaults() if replace else current
    new = _merge(base, body)
    _check_pems(new)
    if options.single_broker_certificate and new["broker"]["certificate"]:
        new["broker"]["certificate"] = first_pem_block(new["broker"]["certificate"])
    return new


def first_pem_block(pem):
    """The first ``-----BEGIN ...-----`` block of ``pem`` (switch: the device keeps one broker certificate)."""
    end = "-----END CERTIFICATE-----"
    cut = pem.find(end)
    return pem if cut < 0 else pem[: cut + len(end)] + "\n"


def mqtt_view(settings, options):
    """The GET body: secrets replaced by their lengths, certificates only when the switch says so."""
    view = {
        "enable": settings["enable"],
        "url": settings["url"],
        "username": settings["username"],
        "client_id": settings["client_id"],
        "skip_cn_check": settings["skip_cn_check"],
        "publish": dict(settings["publish"]),
        "password_len": len(settings["password"]),
    }
    client = settings["client"]
    if options.show_key_len:
        if client["key"] is not None:
            view["key_len"] = len(client["key"])
        if client["key_password"] is not None:
            view["key_password_len"] = len(client["key_password"])
    if options.get_returns_certificates:
        view["broker"] = {"certificate": settings["broker"]["certificate"]}
        view["client"] = {"certificate": client["certificate"]}
    return view


def _fingerprint(pem, kind):
    if pem is None:
        return None
    if kind == "cert":
        try:
            der = x509.load_pem_x509_certificate(pem.encode("ascii")).public_bytes(serialization.Encoding.DER)
        except ValueError:
            der = pem.encode("utf-8")
        return hashlib.sha256(der).hexdigest()
    return hashlib.sha256(pem.encode("utf-8")).hexdigest()


def mqtt_inspection(settings):
    """Settings for ``/_emulator/state``: fingerprints instead of certificates and keys, never a secret."""
    client = settings["client"]
    view = {k: copy.deepcopy(settings[k]) for k in ("enable", "url", "username", "client_id", "skip_cn_check")}
    view["publish"] = dict(settings["publish"])
    view["password_len"] = len(settings["password"])
    view["broker_certificate_sha256"] = _fingerprint(settings["broker"]["certificate"], "cert")
    view["client_certificate_sha256"] = _fingerprint(client["certificate"], "cert")
    view["client_key_sha256"] = _fingerprint(client["key"], "key")
    view["key_len"] = None if client["key"] is None else len(client["key"])
    view["key_password_len"] = None if client["key_password"] is None else len(client["key_password"])
    return view


# --- /api/v1/settings --------------------------------------------------------------------------

# The vendor's own default, whatwatt_XXXXXX, holds an underscore: the check accepts it.
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,30})$")


def system_defaults(hostname, report_interval=30):
    return {
        "system": {"name": "", "host_name": hostname, "protection": False, "password": ""},
        "services": {"report_interval": report_interval, "cloud": {"enable": False}, "local": {"enable": True}},
    }


def apply_system(current, body, replace, hostname):
    """New ``/api/v1/settings`` after a POST or PUT; raises SettingsError."""
    if not isinstance(body, dict):
        raise SettingsError("invalid_json", "body must be a JSON object")
    for group in ("system", "services"):
        if group in body and not isinstance(body[group], dict):
            raise SettingsError("invalid_type", f"{group} must be an object", field=group)
    system = body.get("system", {})
    services = body.get("services", {})
    if "name" in system:
        _check_str("system.name", system["name"], 31)
    if "host_name" in system:
        _check_str("system.host_name", system["host_name"], 31)
        if not HOSTNAME_RE.match(system["host_name"]):
            raise SettingsError("invalid_value", "system.host_name is not a valid host name", field="system.host_name")
    if "protection" in system:
        _check_bool("system.protection", system["protection"])
    if "password" in system:
        _check_str("system.password", system["password"], 31)
    if "report_interval" in services:
        value = services["report_interval"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 3600:
            raise SettingsError(
                "out_of_range", "services.report_interval must be an integer 1..3600", field="services.report_interval"
            )
    base = system_defaults(hostname) if replace else current
    new = copy.deepcopy(base)
    for key in ("name", "host_name", "protection", "password"):
        if key in system:
            new["system"][key] = system[key]
    if "report_interval" in services:
        new["services"]["report_interval"] = services["report_interval"]
    return new


def system_view(settings):
    """GET ``/api/v1/settings``: the password is write-only."""
    view = copy.deepcopy(settings)
    view["system"].pop("password", None)
    return view
