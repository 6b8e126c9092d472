# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The meter's readable MQTT fields (``GET /api/v1/mqtt/settings``): their limits, their nested form and
validation, the broker URL.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity


from urllib.parse import urlsplit


from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import naming
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_template import template_problems


# module_utils may load on Pythons older than 3.11 (no datetime.UTC there)

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
