# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decisions of the device_mqtt action: validation, certificate checks, the record, the plan.

Plain functions and small classes without Ansible glue, so unit tests drive them directly.

The device never shows the certificates or the key it holds (GET may report ``key_len`` and
``key_password_len``; many firmware versions do not, and an absent ``key_len`` means "not reported",
never "no key"), so the controller keeps a record of what it last pushed to each client id:
``<record_dir>/<client_id>.json`` holds fingerprints (never key material), and
``<client_id>.ca.crt``/``.crt``/``.key`` (plus ``.previous.*``) hold copies of what was pushed,
all 0600, so a device can be rolled back.
"""

from __future__ import absolute_import, division, print_function


import datetime
import hashlib
import hmac
import json
import os

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported on the controller
    from urlparse import urlsplit

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    HAS_CRYPTOGRAPHY = True
    CRYPTOGRAPHY_IMPORT_ERROR = None
except ImportError as exc:  # pragma: no cover
    HAS_CRYPTOGRAPHY = False
    CRYPTOGRAPHY_IMPORT_ERROR = exc

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import meter_spec, naming
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.atomic import ensure_dir, read_bytes, write_atomic
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_template import template_problems
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    MAX_BODY_BYTES,
    WhatWattError,
    encode_body,
    reported_int,
)

RECORD_FORMAT = 1
# module_utils may load on Pythons older than 3.11 (no datetime.UTC there)
_UTC = datetime.timezone.utc  # noqa: UP017

# Readable fields: option name -> path in the device's JSON object.
READABLE_FIELDS = (
    ("enable", ("enable",)),
    ("url", ("url",)),
    ("client_id", ("client_id",)),
    ("skip_cn_check", ("skip_cn_check",)),
    ("topic", ("publish", "topic")),
    ("template", ("publish", "template")),
)
READABLE_DEFAULTS = dict(enable=False, url="", client_id="", skip_cn_check=False, topic="", template="")

LIMIT_CLIENT_ID = naming.CLIENT_ID_MAX
LIMIT_TOPIC = naming.TOPIC_MAX
LIMIT_TEMPLATE = 1023
LIMIT_URL = 127
LIMIT_KEY_PASSWORD = 255

MQTT_ARGUMENT_SPEC = dict(
    mode=dict(type="str", default="apply", choices=["apply", "rollback"]),
    **meter_spec.options(meter_spec.MQTT),
)
MQTT_MUTUALLY_EXCLUSIVE = [
    ("url", "broker_host"),
    ("ca_path", "ca_pem"),
    ("client_cert_path", "client_cert_pem"),
    ("client_key_path", "client_key_pem"),
]


# -- readable fields -------------------------------------------------------------------------
def readable_from_device(answer):
    """The readable fields of a GET/PUT answer as a flat dict (absent fields take the defaults)."""
    flat = {}
    answer = answer or {}
    for name, path in READABLE_FIELDS:
        value = answer
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        flat[name] = READABLE_DEFAULTS[name] if value is None else value
    return flat


def nest_readable(flat):
    """Flat readable fields -> the device's JSON shape (only the fields given)."""
    body = {}
    for name, path in READABLE_FIELDS:
        if name not in flat:
            continue
        target = body
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = flat[name]
    return body


def build_url(scheme, host, port):
    """``mqtts://192.0.2.10:8883`` from the broker's address and port (IPv6 gets brackets)."""
    host = host.strip()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{int(port)}"


_utf8_len = naming.utf8_len


def validate_readable(flat, label):
    """Problems with the readable fields, each naming the field and the device."""
    problems = []
    if flat.get("client_id") is not None:
        problems.extend(naming.client_id_problems(flat["client_id"]))
    if flat.get("topic") is not None:
        problems.extend(naming.mqtt_field_problems("topic", flat["topic"]))
    template = flat.get("template")
    if template is not None and _utf8_len(template) > LIMIT_TEMPLATE:
        problems.append(f"template must be at most {LIMIT_TEMPLATE} bytes, got {_utf8_len(template)}")
    problems.extend(template_problems(template))
    url = flat.get("url")
    if url is not None:
        problems.extend(_url_problems(url))
    return [f"{label}: {p}" for p in problems]


def _url_problems(url):
    if _utf8_len(url) > LIMIT_URL:
        return [f"url must be at most {LIMIT_URL} bytes, got {_utf8_len(url)}"]
    if naming.has_control(url) or " " in url:
        return [f"url {url!r} must not contain spaces or control characters"]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return [f"url {url!r} is not valid: {exc}"]
    problems = []
    if parts.scheme not in ("mqtt", "mqtts"):
        problems.append(f"url {url!r} must use the scheme mqtt:// or mqtts://")
    if not parts.hostname:
        problems.append(f"url {url!r} has no broker host")
    if port is not None and not 1 <= port <= 65535:
        problems.append(f"url {url!r} has port out of range")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        problems.append(f"url {url!r} must be scheme://host:port only")
    return problems


# -- certificates ----------------------------------------------------------------------------
def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def cert_fingerprint(cert):
    """SHA-256 of the certificate's DER, lowercase hex."""
    return hashlib.sha256(_der(cert)).hexdigest()


def public_key_fingerprint(public_key):
    """SHA-256 of the SubjectPublicKeyInfo: identifies a key pair without revealing the key."""
    spki = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(spki).hexdigest()


def bundle_fingerprint(certs):
    """One fingerprint for a CA bundle (order matters: it is what the device receives)."""
    if len(certs) == 1:
        return cert_fingerprint(certs[0])
    return hashlib.sha256(b"".join(_der(c) for c in certs)).hexdigest()


def _utc(dt):
    return dt if dt.tzinfo else dt.replace(tzinfo=_UTC)


def _not_after(cert):
    return getattr(cert, "not_valid_after_utc", None) or _utc(cert.not_valid_after)


def _not_before(cert):
    return getattr(cert, "not_valid_before_utc", None) or _utc(cert.not_valid_before)


def _subject(cert):
    try:
        return cert.subject.rfc4514_string()
    except Exception:  # noqa: BLE001 - names are for messages only
        return "?"


class Certificates:
    """Certificate material for one device, validated; never printable with the key in it."""

    def __init__(self, ca_pem=None, cert_pem=None, key_pem=None, key_password=None):
        self.ca_pem = ca_pem
        self.cert_pem = cert_pem
        self.key_pem = key_pem
        self.key_password = key_password
        self.ca_certs = []
        self.cert = None
        self.key_fingerprint = None
        self.warnings = []

    def __repr__(self):
        return f"Certificates({self.fingerprints()})"

    @property
    def manages_key(self):
        return self.key_pem is not None

    def fingerprints(self, salt=None):
        """What the record and the diff hold: fingerprints only."""
        fps = dict(
            ca_sha256=bundle_fingerprint(self.ca_certs) if self.ca_certs else None,
            cert_sha256=cert_fingerprint(self.cert) if self.cert is not None else None,
            pubkey_sha256=self.key_fingerprint,
        )
        if self.manages_key:
            fps["key_password"] = password_fingerprint(self.key_password, salt) if self.key_password else None
        return fps


def password_fingerprint(password, salt=None):
    """Salted PBKDF2 of a secret as ``pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>``."""
    iterations = 100000
    salt = bytes.fromhex(salt) if isinstance(salt, str) else (salt or os.urandom(16))
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"pbkdf2-sha256${iterations}${salt.hex()}${digest.hex()}"


def password_matches(password, fingerprint):
    """True when ``password`` produced ``fingerprint`` (constant-time compare)."""
    try:
        _algo, iterations, salt, digest = fingerprint.split("$")
        again = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), bytes.fromhex(salt), int(iterations))
    except (AttributeError, ValueError):
        return False
    return hmac.compare_digest(again.hex(), digest)


def load_certificates(ca_pem, cert_pem, key_pem, key_password, label, now=None):
    """Parse and cross-check the certificate material; returns (Certificates, problems).

    Checks: each part parses; the client certificate needs the key and a CA; the key belongs to
    the certificate; a CA in the bundle signed the certificate; no CA and no client certificate
    is expired or not yet valid. Messages name the option and the device, never key content.
    """
    if not HAS_CRYPTOGRAPHY:
        raise WhatWattError(f"{label}: the Python library 'cryptography' is required: {CRYPTOGRAPHY_IMPORT_ERROR}")
    now = now or datetime.datetime.now(_UTC)
    certs = Certificates(ca_pem, cert_pem, key_pem, key_password)
    problems = []
    if (cert_pem is None) != (key_pem is None):
        problems.append("client certificate and client key must be given together")
    if cert_pem is not None and ca_pem is None:
        problems.append("a client certificate needs the CA (ca_path or ca_pem) too; they are pushed together")
    if key_password is not None and key_pem is None:
        problems.append("client_key_password needs a client key")
    if key_password is not None and len(key_password) > LIMIT_KEY_PASSWORD:
        problems.append(f"client_key_password must be at most {LIMIT_KEY_PASSWORD} characters")

    if ca_pem is not None:
        try:
            certs.ca_certs = x509.load_pem_x509_certificates(_b(ca_pem))
        except ValueError:
            problems.append("the CA (ca_path/ca_pem) is not a PEM certificate")
        for ca in certs.ca_certs:
            if _not_after(ca) < now:
                problems.append(f"the CA {_subject(ca)} expired on {_not_after(ca).date()}")
            elif _not_before(ca) > now:
                problems.append(f"the CA {_subject(ca)} is not valid before {_not_before(ca)}")
    if cert_pem is not None:
        try:
            loaded = x509.load_pem_x509_certificates(_b(cert_pem))
            certs.cert = loaded[0]
            if len(loaded) > 1:
                certs.warnings.append(f"{label}: only the first certificate of the client certificate file is used")
        except ValueError:
            problems.append("the client certificate (client_cert_path/client_cert_pem) is not a PEM certificate")
    if key_pem is not None:
        key = None
        try:
            key = serialization.load_pem_private_key(
                _b(key_pem), password=_b(key_password) if key_password is not None else None
            )
        except TypeError:
            if key_password is None:
                problems.append("the client key is encrypted: give client_key_password")
            else:
                problems.append("client_key_password was given but the client key is not encrypted")
        except (ValueError, UnsupportedAlgorithm):
            problems.append("the client key (client_key_path/client_key_pem) cannot be read (wrong format or password)")
        if key is not None:
            certs.key_fingerprint = public_key_fingerprint(key.public_key())
            if b"-----BEGIN EC PRIVATE KEY-----" not in _b(key_pem):
                certs.warnings.append(
                    f"{label}: the client key is not a SEC1 'EC PRIVATE KEY' PEM, the only format the vendor documents"
                )
    if certs.cert is not None:
        cert = certs.cert
        if _not_after(cert) < now:
            problems.append(f"the client certificate {_subject(cert)} expired on {_not_after(cert).date()}")
        elif _not_before(cert) > now:
            problems.append(f"the client certificate {_subject(cert)} is not valid before {_not_before(cert)}")
        if certs.key_fingerprint and public_key_fingerprint(cert.public_key()) != certs.key_fingerprint:
            problems.append(f"the client key does not belong to the client certificate {_subject(cert)}")
        if certs.ca_certs and not any(_signed_by(cert, ca) for ca in certs.ca_certs):
            problems.append(
                "the client certificate {} was not signed by the CA {}".format(
                    _subject(cert), ", ".join(_subject(c) for c in certs.ca_certs)
                )
            )
    return certs, [f"{label}: {p}" for p in problems]


def _signed_by(cert, ca):
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False


def _b(value):
    return value.encode("utf-8") if isinstance(value, str) else value


def _device_pem_differs(answer, path, pem):
    """Some firmware may echo certificates in GET; when it does, trust what it says."""
    node = answer
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, str) or "-----BEGIN" not in node or pem is None:
        return False
    try:
        mine = [_der(c) for c in x509.load_pem_x509_certificates(_b(pem))]
        theirs = [_der(c) for c in x509.load_pem_x509_certificates(_b(node))]
    except ValueError:
        return True
    return mine != theirs


# -- the record ------------------------------------------------------------------------------
_RECORD_FILES = (("ca", "ca.crt"), ("cert", "crt"), ("key", "key"))


def record_path(record_dir, client_id, generation="current", part=None):
    """``<dir>/<client_id>.json``, ``<dir>/<client_id>.crt``, ``<dir>/<client_id>.previous.key``..."""
    stem = client_id if generation == "current" else f"{client_id}.previous"
    if part is None:
        return os.path.join(record_dir, f"{client_id}.json")
    return os.path.join(record_dir, f"{stem}.{dict(_RECORD_FILES)[part]}")


def check_record_name(client_id, label):
    """The client id names record files: the client-id rule keeps them inside the record directory."""
    return [f"{label}: {problem}" for problem in naming.client_id_problems(client_id)]


def load_record(record_dir, client_id):
    """The record for ``client_id`` or None when there is none; raises on an unreadable one."""
    data = read_bytes(record_path(record_dir, client_id))
    if data is None:
        return None
    try:
        record = json.loads(data.decode("utf-8"))
    except ValueError as exc:
        raise WhatWattError(f"record {record_path(record_dir, client_id)} is not valid JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise WhatWattError(f"record {record_path(record_dir, client_id)} has an unknown format")
    return record


def load_generation_files(record_dir, client_id, generation):
    """The PEM copies of one generation as a dict part -> text (None for a missing part)."""
    files = {}
    for part, _suffix in _RECORD_FILES:
        data = read_bytes(record_path(record_dir, client_id, generation, part))
        files[part] = data.decode("utf-8") if data is not None else None
    return files


def save_record(record_dir, client_id, record, files, previous_files):
    """Write the record and the PEM copies, 0600 each, atomically; return True when anything changed."""
    changed = ensure_dir(record_dir, 0o700)
    for generation, content in (("previous", previous_files), ("current", files)):
        for part, _suffix in _RECORD_FILES:
            path = record_path(record_dir, client_id, generation, part)
            value = (content or {}).get(part)
            if value is None:
                if os.path.exists(path):
                    os.unlink(path)
                    changed = True
            else:
                changed = write_atomic(path, value, 0o600) or changed
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    return write_atomic(record_path(record_dir, client_id), text, 0o600) or changed


def new_record(client_id, device, current, previous):
    return dict(format=RECORD_FORMAT, client_id=client_id, device=device, current=current, previous=previous)


def record_entry(settings, certificates_fps, when=None):
    """One generation of the record: readable settings and certificate fingerprints."""
    when = when or datetime.datetime.now(_UTC).replace(microsecond=0).isoformat()
    return dict(settings=settings, certificates=certificates_fps, pushed=when)


# -- the plan --------------------------------------------------------------------------------
class Plan:
    """What one device_mqtt run will do; built from GETs only, so check mode is exact."""

    def __init__(self):
        self.changes = {}  # readable fields that differ: name -> desired value
        self.push_certificates = False
        self.reasons = []
        self.body = {}
        self.body_bytes = 0
        self.before = {}
        self.after = {}
        self.diff = {}
        self.warnings = []

    @property
    def changed(self):
        return bool(self.changes) or self.push_certificates


def certificate_reasons(certs, answer, record, force):
    """Why certificates must be pushed (empty list: they need not be)."""
    reasons = []
    if force:
        reasons.append("forced")
    current = (record or {}).get("current") or {}
    recorded = current.get("certificates")
    if not recorded:
        reasons.append("no record")
    else:
        wanted = certs.fingerprints()
        if recorded.get("ca_sha256") != wanted["ca_sha256"]:
            reasons.append("CA fingerprint changed")
        if recorded.get("cert_sha256") != wanted["cert_sha256"]:
            reasons.append("client certificate fingerprint changed")
        if recorded.get("pubkey_sha256") != wanted["pubkey_sha256"]:
            reasons.append("client key changed")
        if certs.manages_key:
            old = recorded.get("key_password")
            if (certs.key_password is None) != (old is None) or (
                certs.key_password is not None and not password_matches(certs.key_password, old)
            ):
                reasons.append("client key password changed")
    if certs.manages_key:
        reasons.extend(_key_reasons(certs, answer))
    if recorded and not reported_key_len(answer):
        # The meter does not say whether it holds a key: the readable fields are the evidence left.
        reasons.extend(_reset_reasons(answer, current.get("settings")))
    if _device_pem_differs(answer, ("broker", "certificate"), certs.ca_pem):
        reasons.append("CA on the device differs")
    if _device_pem_differs(answer, ("client", "certificate"), certs.cert_pem):
        reasons.append("client certificate on the device differs")
    return reasons


def reported_key_len(answer):
    """``key_len`` as the meter reports it, or None when it does not report it (never read as "no key")."""
    return reported_int((answer or {}).get("key_len"))


def _key_reasons(certs, answer):
    """Reasons from ``key_len``/``key_password_len``, only as far as the meter reports them."""
    reasons = []
    key_len = reported_key_len(answer)
    if key_len is not None and key_len <= 0:
        reasons.append("key_len 0 on device (factory reset?)")
    password_len = reported_int((answer or {}).get("key_password_len"))
    wanted_pw_len = len(certs.key_password) if certs.key_password else 0
    if password_len is not None and password_len != wanted_pw_len:
        reasons.append("key_password_len on device differs")
    return reasons


# Readable fields a factory reset puts back to their defaults, as the reason names them.
_RESET_SIGNALS = (("client_id", "client_id empty"), ("url", "url empty"), ("enable", "enable false"))


def factory_default_signals(device_settings, recorded_settings):
    """The fields the collection had set (``recorded_settings``) that the meter shows at their factory default."""
    return [
        text
        for field, text in _RESET_SIGNALS
        if (recorded_settings or {}).get(field) and device_settings.get(field) == READABLE_DEFAULTS[field]
    ]


def _reset_reasons(answer, recorded_settings):
    """A factory reset seen without ``key_len``: fields the collection had set are back at their defaults."""
    signals = factory_default_signals(readable_from_device(answer), recorded_settings)
    if not signals:
        return []
    return ["factory reset? ({}; the device does not report key_len)".format(", ".join(signals))]


def certificates_body(certs):
    """The certificate part of the PUT body: CA, certificate and key always together."""
    body = {}
    if certs.ca_pem is not None:
        body["broker"] = {"certificate": _text(certs.ca_pem)}
    if certs.cert_pem is not None:
        body["client"] = {
            "certificate": _text(certs.cert_pem),
            "key": _text(certs.key_pem),
            # null deletes a stale key password left from an earlier key
            "key_password": certs.key_password,
        }
    return body


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _merge(target, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value
    return target


def plan_mqtt(desired, answer, certs, record, label, force=False):
    """Compare the desired readable fields (None = not managed) and certificates with the device.

    ``answer`` is the device's GET, ``certs`` a validated Certificates or None when certificates
    are not managed, ``record`` the loaded record or None. Raises WhatWattError when the body
    would exceed the device's limit, before anything is sent.
    """
    plan = Plan()
    current = readable_from_device(answer)
    plan.before = dict(current)
    for name, _path in READABLE_FIELDS:
        value = desired.get(name)
        if value is not None and value != current[name]:
            plan.changes[name] = value
    plan.after = dict(current, **plan.changes)
    if certs is not None:
        plan.reasons = certificate_reasons(certs, answer, record, force)
        plan.push_certificates = bool(plan.reasons)
    plan.body = nest_readable(plan.changes)
    if plan.push_certificates:
        _merge(plan.body, certificates_body(certs))
    plan.body_bytes = len(encode_body(plan.body)) if plan.changed else 0
    if plan.body_bytes > MAX_BODY_BYTES:
        raise WhatWattError(
            f"{label}: the MQTT settings body would be {plan.body_bytes} bytes, over the device's {MAX_BODY_BYTES}-byte"
            " limit (certificates included); use shorter certificates, a shorter template or a single CA"
        )
    plan.diff = mqtt_diff(plan, certs, answer, record)
    return plan


def mqtt_diff(plan, certs, answer, record):
    """Ansible diff: readable fields and fingerprints, never a key."""
    before = dict(plan.before)
    after = dict(plan.after)
    if certs is not None:
        recorded = (((record or {}).get("current") or {}).get("certificates")) or {}
        wanted = certs.fingerprints()
        before_fp = {
            "ca_sha256": recorded.get("ca_sha256", "unknown (no record)"),
            "cert_sha256": recorded.get("cert_sha256", "unknown (no record)"),
            "pubkey_sha256": recorded.get("pubkey_sha256", "unknown (no record)"),
            "key_len": _key_len_text(answer),
        }
        after_fp = {
            "ca_sha256": wanted["ca_sha256"],
            "cert_sha256": wanted["cert_sha256"],
            "pubkey_sha256": wanted["pubkey_sha256"],
            "key_len": "set" if certs.manages_key else before_fp["key_len"],
        }
        if not plan.push_certificates:
            after_fp = dict(before_fp)
        before["certificates"] = before_fp
        after["certificates"] = after_fp
    return dict(before=sanitize(before), after=sanitize(after))


def _key_len_text(answer):
    key_len = reported_key_len(answer)
    return "not reported" if key_len is None else key_len


_SECRET_KEYS = ("key", "password", "key_password")


def sanitize(obj):
    """Mask anything that could be a secret in a structure meant for output."""
    if isinstance(obj, dict):
        clean = {}
        for key, value in obj.items():
            if key in _SECRET_KEYS and value is not None:
                clean[key] = "********"
            else:
                clean[key] = sanitize(value)
        return clean
    if isinstance(obj, list):
        return [sanitize(v) for v in obj]
    if isinstance(obj, str) and "PRIVATE KEY" in obj:
        return "********"
    return obj


def confirm_applied(plan, answer, label, certs_pushed_key):
    """Check the device's answer to the PUT shows what we sent; return its readable fields."""
    after = readable_from_device(answer)
    wrong = [
        f"{name} is {after[name]!r}, not {value!r}" for name, value in plan.changes.items() if after[name] != value
    ]
    # A meter that does not report key_len is confirmed by the readable fields here and by verification.
    if certs_pushed_key and reported_key_len(answer) == 0:
        wrong.append("key_len is 0 after the key was sent")
    if wrong:
        raise WhatWattError("{}: the device did not apply the MQTT settings: {}".format(label, "; ".join(wrong)))
    return after


def desired_readable(options, default_client_id):
    """The readable fields an apply run manages (None: leave the device's value as it is)."""
    url = options.get("url")
    if url is None and options.get("broker_host"):
        url = build_url(options.get("scheme") or "mqtts", options["broker_host"], options.get("broker_port") or 8883)
    return dict(
        enable=options.get("enable"),
        url=url,
        client_id=options.get("client_id") or default_client_id,
        skip_cn_check=options.get("skip_cn_check"),
        topic=options.get("topic"),
        template=template_text(options.get("template")),
    )


def template_text(template):
    """The payload template as the text the device stores.

    Ansible's templating turns a string such as ``{"sys_id": "${sys.id}"}`` (every placeholder
    quoted, so it parses as a literal) into a dict; it is sent back as compact JSON, the same
    text on every run, so the comparison with the device stays idempotent.
    """
    if isinstance(template, (dict, list)):
        return json.dumps(template, separators=(",", ":"))
    if template is None or isinstance(template, str):
        return template
    return str(template)


# -- one run ---------------------------------------------------------------------------------
def _read_pem(options, name, label):
    """PEM text from ``<name>_pem`` or the controller file ``<name>_path``."""
    pem = options.get(f"{name}_pem")
    path = options.get(f"{name}_path")
    if pem is not None or not path:
        return pem
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WhatWattError(f"{label}: cannot read {name}_path {path}: {exc.__class__.__name__}") from None


def _apply_inputs(options, label, default_client_id):
    desired = desired_readable(options, default_client_id)
    problems = validate_readable(desired, label)
    pems = {}
    for name in ("ca", "client_cert", "client_key"):
        try:
            pems[name] = _read_pem(options, name, label)
        except WhatWattError as exc:
            # a bad client_id usually means a missing clients/<id>.crt too: report every problem at once
            problems.append(str(exc))
            pems[name] = None
    if problems:
        return desired, None, problems
    ca_pem, cert_pem, key_pem = pems["ca"], pems["client_cert"], pems["client_key"]
    certs = None
    if ca_pem is not None or cert_pem is not None or key_pem is not None:
        certs, cert_problems = load_certificates(ca_pem, cert_pem, key_pem, options.get("client_key_password"), label)
        problems.extend(cert_problems)
        if not options.get("record_dir"):
            problems.append(f"{label}: record_dir is required when certificates are managed")
    elif options.get("client_key_password") is not None:
        problems.append(f"{label}: client_key_password needs a client key")
    problems.extend(meter_behaviour_problems(desired, certs, options, label))
    return desired, certs, problems


def meter_behaviour_problems(desired, certs, options, label):
    """What cannot work on a meter that behaves as the options say (behaviour the vendor leaves open).

    ``name_check_ignores_ip_sans``: the meter's server-name check knows DNS names only, so ``skip_cn_check: false``
    with an IP in the URL can never connect. ``single_broker_certificate``: the meter keeps only the first
    certificate of ``broker.certificate``, so a CA bundle of several (a CA rollover) would cut it off.
    """
    problems = []
    url = desired.get("url") or ""
    if options.get("name_check_ignores_ip_sans") and not desired.get("skip_cn_check") and _is_ip(_url_host(url)):
        problems.append(
            f"{label}: the meter's server-name check ignores IP SANs (whatwatt_name_check_ignores_ip_sans), so {url}"
            " with skip_cn_check false could never connect: set whatwatt_broker_host to a DNS name that is in the"
            " broker certificate's SANs and that the meter resolves"
        )
    if options.get("single_broker_certificate") and certs is not None and len(certs.ca_certs) > 1:
        problems.append(
            f"{label}: the meter keeps only one broker.certificate (whatwatt_single_broker_certificate) and the CA"
            f" bundle holds {len(certs.ca_certs)} (a CA rollover in progress): finish the rollover (retire) before"
            " provisioning this meter, or provision it from a PKI directory whose ca-bundle.crt holds the one CA"
            " that signed the broker's certificate"
        )
    return problems


def _url_host(url):
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _is_ip(host):
    return naming.ip_address(host) is not None


def _rollback_inputs(options, label, client_id, record):
    previous = (record or {}).get("previous")
    if not previous:
        raise WhatWattError(
            f"{label}: no previous generation recorded for client_id {client_id}: nothing to roll back to"
        )
    desired = dict(READABLE_DEFAULTS, **(previous.get("settings") or {}))
    certs = None
    fps = previous.get("certificates")
    if fps:
        files = load_generation_files(options["record_dir"], client_id, "previous")
        if (fps.get("ca_sha256") and files["ca"] is None) or (fps.get("cert_sha256") and files["cert"] is None):
            raise WhatWattError(
                "{}: the previous certificates of {} are missing in {}".format(label, client_id, options["record_dir"])
            )
        key_password = options.get("client_key_password")
        if fps.get("key_password") and key_password is None:
            raise WhatWattError(f"{label}: the previous client key is encrypted: give client_key_password to roll back")
        certs, problems = load_certificates(files["ca"], files["cert"], files["key"], key_password, label)
        if problems:
            raise WhatWattError("; ".join(problems))
    return desired, certs


def run_mqtt(client, options, check_mode=False, default_client_id=None, preflight=None):
    """One device_mqtt task: validate, GET, plan, PUT when needed, record. Returns the result dict.

    Everything is validated before the first request; the only calls are one GET and, when
    something differs, one PUT (whose answer confirms the change). ``preflight(client, certs)``, when
    given, runs after the inputs are validated and before the GET (it raises to refuse the meter).
    """
    label = client.label
    mode = options.get("mode") or "apply"
    record_dir = options.get("record_dir")
    client_id = options.get("client_id") or default_client_id
    result = dict(changed=False, pushed_certificates=False, reasons=[])
    warnings = []
    if mode == "rollback":
        if not record_dir:
            raise WhatWattError(f"{label}: mode=rollback needs record_dir")
        problems = check_record_name(client_id, label)
        if problems:
            raise WhatWattError("; ".join(problems))
        record = load_record(record_dir, client_id)
        desired, certs = _rollback_inputs(options, label, client_id, record)
    else:
        # the client id names the record files too: validate_readable applied the client-id rule
        desired, certs, problems = _apply_inputs(options, label, default_client_id)
        if problems:
            raise WhatWattError("; ".join(problems))
        client_id = desired["client_id"]
        record = load_record(record_dir, client_id) if record_dir else None
    if certs is not None:
        warnings.extend(certs.warnings)
    if preflight is not None:
        preflight(client, certs)

    answer = client.get_mqtt()
    plan = plan_mqtt(desired, answer, certs, record, label, force=bool(options.get("force_certificates")))
    result.update(
        changed=plan.changed,
        pushed_certificates=plan.push_certificates,
        reasons=plan.reasons,
        previous=plan.before,
        settings=plan.after,
        diff=plan.diff,
        body_bytes=plan.body_bytes,
        changed_fields=sorted(plan.changes),
    )
    if record_dir:
        result["record"] = record_path(record_dir, client_id)
    if warnings:
        result["warnings"] = warnings
    if check_mode or not plan.changed:
        return result

    put_answer = client.put_mqtt(plan.body)
    if not isinstance(put_answer, dict) or not put_answer:
        put_answer = client.get_mqtt()
    result["settings"] = confirm_applied(plan, put_answer, label, plan.push_certificates and certs.manages_key)
    if record_dir:
        _update_record(record_dir, client_id, client.name, record, plan, certs, result["settings"], mode)
    return result


def _update_record(record_dir, client_id, device, record, plan, certs, after, mode):
    """Rotate the record after a successful PUT; failures say the device already changed."""
    try:
        old_current = (record or {}).get("current")
        old_files = load_generation_files(record_dir, client_id, "current")
        if plan.push_certificates:
            fps = certs.fingerprints()  # a fresh salt for the key password hash on each push
            files = dict(ca=_text(certs.ca_pem), cert=_text(certs.cert_pem), key=_text(certs.key_pem))
        else:
            fps = (old_current or {}).get("certificates")
            files = old_files
        current = record_entry(after, fps)
        if mode == "rollback":
            # The rolled-back-to generation stays "previous" too, so a second rollback changes nothing.
            previous = record["previous"]
            previous_files = load_generation_files(record_dir, client_id, "previous")
            current = dict(current, rolled_back_from=(old_current or {}).get("certificates"))
        elif old_current:
            previous, previous_files = old_current, old_files
        else:
            previous, previous_files = record_entry(plan.before, None, when=None), {}
        save_record(record_dir, client_id, new_record(client_id, device, current, previous), files, previous_files)
    except (OSError, ValueError) as exc:
        raise WhatWattError(
            f"the device {device} was changed but the record in {record_dir} could not be written: {exc}"
        ) from None
