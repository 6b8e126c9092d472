# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The naming rules: MQTT client ids and topics, file names, broker ACL identities, DNS names, IP addresses.

A client id names four things - the meter's MQTT field, the PKI's certificate files, the device record files and
the broker's ACL line - and meets ONE rule for all of them (``client_id_problems``): 1..63 bytes, letters,
digits, ``.``, ``_`` and ``-``, starting with a letter or digit. The PKI, the device code and the mosquitto role
(``mosquitto_acl_problems``) all call it. Each function returns problems as text that names the field; the
callers add the meter or the host. ``TopicClaims`` is the one duplicate-topic check: two meters on one topic could
not be told apart by their messages.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import ipaddress
import re

# The meter's MQTT fields (vendor API): client_id 0..63, publish.topic 0..127 bytes; both must be set here.
CLIENT_ID_MAX = 63
TOPIC_MAX = 127
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# A PKI file name (servers/<name>.crt, clients/<client_id>.crt).
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# A client id: what a file name, an ACL line and the meter's field all take.
_CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_DNS_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def utf8_len(text):
    """Length in bytes, as the meter counts it."""
    return len(text.encode("utf-8"))


def client_id_problems(client_id):
    """The one client-id rule (meter field, certificate and record file names, ACL line); [] when it holds."""
    text = "" if client_id is None else str(client_id)
    problems = mqtt_field_problems("client_id", text)
    if text and not problems and not _CLIENT_ID_RE.match(text):
        problems.append(
            f"client_id {text!r} may hold only letters, digits, '.', '_' and '-' and must start with a letter or"
            " digit (it names the meter's certificate and record files and its line in the broker ACL)"
        )
    return problems


def mqtt_field_problems(field, value):
    """Problems of the meter's ``client_id`` or ``topic`` field (length in bytes, wildcards, control characters).

    For a client id, ``client_id_problems`` is the whole rule; this is the part the meter's field itself sets.
    """
    limit = CLIENT_ID_MAX if field == "client_id" else TOPIC_MAX
    problems = []
    if not 1 <= utf8_len(value) <= limit:
        problems.append(f"{field} must be 1..{limit} bytes, got {utf8_len(value)}")
    if "+" in value or "#" in value:
        why = " (the device publishes to it)" if field == "topic" else ""
        problems.append(f"{field} {value!r} must not contain the MQTT wildcards + or #{why}")
    if _CONTROL.search(value):
        problems.append(f"{field} must not contain control characters")
    return problems


def has_control(value):
    """True when ``value`` holds a control character."""
    return bool(_CONTROL.search(value))


def topic_has_wildcard(topic):
    """True when ``topic`` holds an MQTT wildcard (a meter publishes to it, so it must not)."""
    return "+" in topic or "#" in topic


def pki_name_problem(kind, name):
    """Problem of a PKI leaf name (it names files; a client's is the meter's client id: ``client_id_problems``)."""
    if kind == "client":
        problems = client_id_problems(name) if isinstance(name, str) else [f"client name {name!r} is not a string"]
        return f"client {name!r}: " + "; ".join(problems) if problems else None
    if not isinstance(name, str) or not FILE_NAME_RE.match(name):
        return f"{kind} name {name!r} is not usable as a file name ([A-Za-z0-9._-], max 128)"
    return None


def dns_name_ok(name):
    """True when ``name`` is a valid DNS name (RFC 1123 labels, an optional leading ``*.``)."""
    labels = name[2:].split(".") if name.startswith("*.") else name.split(".")
    return len(name) <= 253 and all(_DNS_LABEL.match(label) for label in labels)


def ip_address(value):
    """The IP address object of ``value``, or None when it is not one."""
    try:
        return ipaddress.ip_address(str(value))
    except ValueError:
        return None


class TopicClaims:
    """Which meters claim which topic; a topic claimed twice is refused for every meter on it."""

    def __init__(self):
        self._by_topic = {}

    def claim(self, topic, name):
        """Record ``name`` on ``topic``; returns the first meter that claimed it before, or None."""
        holders = self._by_topic.setdefault(topic, [])
        holders.append(name)
        return holders[0] if len(holders) > 1 else None

    def shared(self):
        """``{topic: [names]}`` of the topics more than one meter claimed, in claim order."""
        return {topic: names for topic, names in self._by_topic.items() if len(names) > 1}
