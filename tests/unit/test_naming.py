# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/module_utils/naming.py: the naming rules, and that the PKI, the device code and the broker role use them."""

import ipaddress

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.filter.mosquitto import FilterModule, acl_problems
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_mqtt, naming, pki, pki_crypto


def test_the_meter_fields_take_1_to_63_and_1_to_127_bytes_without_wildcards_or_control_characters():
    assert naming.mqtt_field_problems("client_id", "meter-1") == []
    assert naming.mqtt_field_problems("client_id", "x" * 63) == []
    assert naming.mqtt_field_problems("client_id", "ü" * 32) == ["client_id must be 1..63 bytes, got 64"]
    assert naming.mqtt_field_problems("topic", "") == ["topic must be 1..127 bytes, got 0"]
    assert naming.mqtt_field_problems("topic", "meters/+") == [
        "topic 'meters/+' must not contain the MQTT wildcards + or # (the device publishes to it)"
    ]
    assert naming.mqtt_field_problems("client_id", "a#") == [
        "client_id 'a#' must not contain the MQTT wildcards + or #"
    ]
    assert naming.mqtt_field_problems("topic", "a\x01") == ["topic must not contain control characters"]


def test_the_device_code_reports_the_rules_with_the_meter():
    problems = device_mqtt.validate_readable(dict(client_id="", topic="t/#"), "meter-1")
    assert problems == [
        "meter-1: client_id must be 1..63 bytes, got 0",
        "meter-1: topic 't/#' must not contain the MQTT wildcards + or # (the device publishes to it)",
    ]
    assert device_mqtt.check_record_name("../x", "meter-1") == [
        "meter-1: client_id '../x' may hold only letters, digits, '.', '_' and '-' and must start with a letter or"
        " digit (it names the meter's certificate and record files and its line in the broker ACL)"
    ]
    assert device_mqtt.check_record_name("meter-1", "meter-1") == []


@pytest.mark.parametrize("name", ["a/b", "a\\b", ".hidden", "", "a b", "zähler", "-lead", "c" * 64, "x+1", "a\n"])
def test_one_client_id_rule_for_the_field_the_files_and_the_acl(name):
    problems = naming.client_id_problems(name)
    assert problems and all(p.startswith("client_id") for p in problems), problems
    # the PKI, the device code and the broker's ACL refuse it with the same words
    assert naming.pki_name_problem("client", name) == f"client {name!r}: " + "; ".join(problems)
    assert device_mqtt.check_record_name(name, "m") == [f"m: {p}" for p in problems]
    assert acl_problems([name]) == ["; ".join(problems)]
    assert device_mqtt.validate_readable(dict(client_id=name), "m") == [f"m: {p}" for p in problems]


@pytest.mark.parametrize("name", ["meter-1", "a", "A.b_c-9", "x" * 63, "42"])
def test_client_ids_the_rule_takes(name):
    assert naming.client_id_problems(name) == []
    assert naming.pki_name_problem("client", name) is None and acl_problems([name]) == []


def test_the_pki_names_files_and_client_ids_by_the_same_rules():
    assert pki.NAME_RE is naming.FILE_NAME_RE and pki.CLIENT_ID_MAX == naming.CLIENT_ID_MAX == 63
    assert naming.pki_name_problem("client", "meter-1") is None
    assert naming.pki_name_problem("server", "b" * 128) is None
    assert "not usable as a file name" in naming.pki_name_problem("server", "-lead")
    long_id = "c" * 64
    assert naming.pki_name_problem("client", long_id) == f"client {long_id!r}: client_id must be 1..63 bytes, got 64"
    with pytest.raises(pki_crypto.PkiError, match="1..63 bytes, got 64"):
        pki.LeafSpec("client", "c" * 64)


def test_dns_names_and_ip_addresses():
    assert naming.dns_name_ok("mqtt.example.net") and naming.dns_name_ok("*.example.net")
    assert not naming.dns_name_ok("-bad.example") and not naming.dns_name_ok("a" * 64 + ".example")
    assert naming.ip_address("::1") == ipaddress.ip_address("::1") and naming.ip_address("mqtt") is None
    with pytest.raises(pki_crypto.PkiError, match="not a valid DNS name"):
        pki_crypto.check_dns_name("a_b.example")
    with pytest.raises(pki_crypto.PkiError, match="not an IP address"):
        pki_crypto.parse_ip("300.1.1.1")


def test_the_broker_acl_refuses_what_would_break_its_lines():
    assert acl_problems(["meter-1", "whatwatt-monitor", 42]) == []
    problems = acl_problems(["", "a b", "a+", "x#", "m/1", None])
    assert len(problems) == 6 and problems[0] == problems[5] == "client_id must be 1..63 bytes, got 0"  # None too
    assert [p.split(" ", 2)[1] for p in problems[1:5]] == ["'a", "'a+'", "'x#'", "'m/1'"]
    assert FilterModule().filters()["mosquitto_acl_problems"] is acl_problems


def test_a_topic_claimed_twice_is_shared_by_every_meter_on_it():
    claims = naming.TopicClaims()
    assert claims.claim("meters/a", "a") is None
    assert claims.claim("meters/b", "b") is None
    assert claims.claim("meters/a", "c") == "a"
    assert claims.claim("meters/a", "d") == "a"
    assert claims.shared() == {"meters/a": ["a", "c", "d"]}
