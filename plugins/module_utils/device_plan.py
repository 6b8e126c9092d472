# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of one meter's MQTT push: what differs (fields, certificates, a factory reset), the PUT body, the diff
without secrets, and the check that the meter applied it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity


import json


from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    MAX_BODY_BYTES,
    WhatWattError,
    encode_body,
    reported_int,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_certs import (
    device_pem_differs,
    password_matches,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_fields import (
    READABLE_DEFAULTS,
    READABLE_FIELDS,
    build_url,
    nest_readable,
    readable_from_device,
)


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
    if device_pem_differs(answer, ("broker", "certificate"), certs.ca_pem):
        reasons.append("CA on the device differs")
    if device_pem_differs(answer, ("client", "certificate"), certs.cert_pem):
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
        body["broker"] = {"certificate": as_text(certs.ca_pem)}
    if certs.cert_pem is not None:
        body["client"] = {
            "certificate": as_text(certs.cert_pem),
            "key": as_text(certs.key_pem),
            # null deletes a stale key password left from an earlier key
            "key_password": certs.key_password,
        }
    return body


def as_text(value):
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
