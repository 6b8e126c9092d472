# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The meter spec: every option of a meter, of its connection and of a batch, declared once.

Each field has its type, default, ``no_log`` and a description. The argument specs of the device plugins
are built from it (``options``); the files that cannot import Python follow it and a unit test
(``tests/unit/test_meter_spec.py``) says which one disagrees: the device role's ``meta/argument_specs.yml``
and ``plugins/doc_fragments/device.py`` are written by ``tools/gen_spec.py`` from ``ROLE_OPTIONS`` and
``CONNECTION``, ``roles/device/defaults/main.yml`` and the variables table of ``docs/device-role.md`` from
``ROLE_OPTIONS``; the role's ``device_fleet`` task, the modules' documentation and
``inventory/example/group_vars/all.yml`` are compared with it. Each
meter's own variables reach its device entry through ``METER_VARIABLES`` (resolved by the batch task).

Adding a meter setting: a field here (and a ``ROLE_OPTIONS`` entry when the role sets it), its use, then
``python tools/gen_spec.py`` and whatever the test names.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import copy

# Keys of a field that belong to an Ansible argument spec (the rest is documentation).
_SPEC_KEYS = ("type", "elements", "default", "choices", "required", "no_log", "aliases")

# -- the connection to the meter's REST API (every device plugin) -------------------------------------------------
CONNECTION = ("host", "port", "password", "timeout", "retries")

FIELDS = dict(
    # connection
    host=dict(
        type="str",
        description=[
            "Address or name of the meter's REST API (plain HTTP).",
            "Defaults to the host's C(ansible_host), else its inventory name.",
        ],
    ),
    port=dict(
        type="int",
        description=[
            "TCP port of the REST API.",
            "Defaults to the host variable C(whatwatt_api_port) when set, else C(80).",
        ],
    ),
    password=dict(
        type="str",
        no_log=True,
        description=[
            "Web UI password; the user name is always empty.",
            "Used only when the meter asks for credentials (Web UI protection on), with HTTP Basic before firmware"
            " 1.10 and HTTP Digest C(MD5-sess) from 1.10 on, as the meter's challenge says.",
            "Defaults to the host variable C(whatwatt_password) (keep it in Ansible Vault), else empty (no"
            " authentication).",
            "Set it for all device modules at once with"
            " C(module_defaults: {group/whatwatt.secure_mqtt.device: {password: ...}}).",
        ],
    ),
    timeout=dict(
        type="float",
        default=10,
        description="Seconds to wait for the meter to connect and answer, per HTTP request.",
    ),
    retries=dict(
        type="int",
        default=3,
        description=[
            "How many times a request is repeated after a connection error, a timeout or a C(503) answer, with"
            " exponential back-off (0.5 s, 1 s, 2 s, ... at most 8 s, or the meter's C(Retry-After)).",
        ],
    ),
    # the meter's MQTT settings and what is pushed with them
    enable=dict(type="bool", default=True, description="Whether the meter's MQTT client is on."),
    url=dict(type="str", description="Broker URL as the meter stores it (instead of broker_host)."),
    broker_host=dict(
        type="str", description="Broker address as the meter reaches it (in the broker certificate's SANs)."
    ),
    broker_port=dict(type="int", default=8883, description="Port of the broker's mutual-TLS listener."),
    scheme=dict(type="str", default="mqtts", choices=["mqtt", "mqtts"], description="URL scheme; C(mqtts) is TLS."),
    client_id=dict(type="str", description="MQTT client id (1..63 bytes), also the CN of the meter's certificate."),
    topic=dict(type="str", description="The one topic the meter publishes to (1..127 bytes, no wildcards)."),
    # raw: Ansible turns a templated string that parses as a literal into a dict; see device_plan.template_text().
    template=dict(type="raw", description="Payload template (at most 1023 bytes)."),
    # checked by device_fleet.device_inputs: null is allowed, so no choices
    template_preset=dict(type="str", description="A named template (compact, home_assistant) instead of template."),
    skip_cn_check=dict(
        type="bool", default=False, description="Let the meter skip the broker certificate's name check."
    ),
    ca_path=dict(type="path", description="CA bundle pushed to the meter (PEM file)."),
    ca_pem=dict(type="str", description="CA bundle pushed to the meter (PEM text)."),
    client_cert_path=dict(type="path", description="Client certificate of the meter (PEM file)."),
    client_cert_pem=dict(type="str", description="Client certificate of the meter (PEM text)."),
    client_key_path=dict(type="path", no_log=False, description="Client key of the meter (PEM file)."),
    client_key_pem=dict(type="str", no_log=True, description="Client key of the meter (PEM text)."),
    client_key_password=dict(type="str", no_log=True, description="Passphrase of an encrypted client key."),
    force_certificates=dict(
        type="bool", default=False, description="Push the certificates even when the record has them."
    ),
    record_dir=dict(type="path", description="Controller directory of the per-meter records (rollback needs them)."),
    certs_dir=dict(type="path", description="Directory of the meters' C(<client_id>.crt|.key)."),
    report_interval=dict(type="int", description="C(services.report_interval) in seconds (1..3600); null leaves it."),
    name_check_ignores_ip_sans=dict(
        type="bool", default=False, description="The meter's server-name check knows DNS names only, not IP SANs."
    ),
    single_broker_certificate=dict(
        type="bool", default=False, description="The meter keeps only the first certificate of C(broker.certificate)."
    ),
    # a batch of meters (device_fleet) and its verification (device_verify)
    verify=dict(
        type="str", default="changed", choices=["changed", "all", "none"], description="Which meters are verified."
    ),
    verify_timeout=dict(
        type="float", default=90, description="Seconds the verification waits for every meter to connect and publish."
    ),
    monitor_cert_path=dict(type="path", description="Certificate of the monitoring identity."),
    monitor_key_path=dict(type="path", no_log=False, description="Key of the monitoring identity."),
    monitor_client_id=dict(type="str", description="MQTT client id of the monitor session."),
    monitor_identities=dict(
        type="list", elements="str", default=[], description="Reader identities no meter may use as client id."
    ),
    rollback=dict(type="bool", default=True, description="Put back the previous settings of a meter that fails."),
    drift=dict(type="str", default="change", choices=["change", "fail"], description="What check mode does on drift."),
    workers=dict(type="int", default=16, description="Meters worked on at the same time (threads)."),
    max_fail_percentage=dict(
        type="int",
        default=100,
        description=[
            "Stop the rollout when more than this percentage of the batch's meters failed: the result's"
            " C(stop_rollout) is then true (Ansible's rule for the play keyword of the same name).",
        ],
    ),
)

# The meter's MQTT fields of device_mqtt (beside its own ``mode``).
MQTT = (
    "enable",
    "url",
    "broker_host",
    "broker_port",
    "scheme",
    "client_id",
    "topic",
    "template",
    "skip_cn_check",
    "ca_path",
    "ca_pem",
    "client_cert_path",
    "client_cert_pem",
    "client_key_path",
    "client_key_pem",
    "client_key_password",
    "force_certificates",
    "record_dir",
)
# The fields of one meter of a batch (device_fleet ``devices[]``, beside its ``name``); none has a default there.
DEVICE = (
    "host",
    "port",
    "password",
    "client_id",
    "topic",
    "template",
    "template_preset",
    "skip_cn_check",
    "force_certificates",
    "report_interval",
    "client_cert_path",
    "client_key_path",
    "ca_path",
    "certs_dir",
    "record_dir",
    "broker_host",
    "broker_port",
    "scheme",
    "name_check_ignores_ip_sans",
    "single_broker_certificate",
)
# The batch-wide options of device_fleet (beside ``devices``).
FLEET = (
    "broker_host",
    "broker_port",
    "scheme",
    "template",
    "template_preset",
    "skip_cn_check",
    "force_certificates",
    "report_interval",
    "password",
    "ca_path",
    "certs_dir",
    "record_dir",
    "timeout",
    "retries",
    "verify",
    "verify_timeout",
    "monitor_cert_path",
    "monitor_key_path",
    "monitor_client_id",
    "monitor_identities",
    "rollback",
    "drift",
    "workers",
    "max_fail_percentage",
    "name_check_ignores_ip_sans",
    "single_broker_certificate",
)
# Fields of a device entry that fall back to the batch-wide option of the same name.
SHARED = tuple(name for name in DEVICE if name in FLEET)


def options(names, defaults=True, **overrides):
    """The Ansible argument spec of ``names``: each field's spec keys, changed by ``overrides[name]``.

    ``defaults=False`` drops every default (a device entry falls back to the batch instead).
    """
    spec = {}
    for name in names:
        field = {key: copy.deepcopy(value) for key, value in FIELDS[name].items() if key in _SPEC_KEYS}
        if not defaults:
            field.pop("default", None)
        field.update(overrides.get(name, {}))
        spec[name] = field
    return spec


# -- the device role's variables ---------------------------------------------------------------------------------
# ``field``: the plugin field the variable feeds (its type, default, choices and no_log come from there unless
# given here). Every variable that is not required has its default in the role's defaults/main.yml.
_ROLE_TEMPLATE = (
    '{"sys_id":"${sys.id}","P_In":${1_7_0},"P_Out":${2_7_0},"E_In":${1_8_0},"E_Out":${2_8_0},"ts":${timestamp}}'
)
ROLE_OPTIONS = dict(
    whatwatt_pki_dir=dict(
        type="path",
        required=True,
        description=[
            "PKI directory on the controller (written by the C(whatwatt.secure_mqtt.pki) role).",
            "Required, no default; never a directory inside the collection or C(playbook_dir).",
        ],
    ),
    whatwatt_broker_host=dict(
        field="broker_host",
        required=True,
        description="Address of the broker as the meters reach it; must be in the broker certificate's SANs.",
    ),
    whatwatt_broker_port=dict(field="broker_port", description="Port of the broker's mutual-TLS listener."),
    whatwatt_broker_scheme=dict(
        field="scheme",
        choices=["mqtts", "mqtt"],
        description="URL scheme the meter uses (C(mqtts) = TLS; C(mqtt) = plain TCP, not for the mTLS listener).",
    ),
    whatwatt_client_id=dict(
        field="client_id",
        default="{{ inventory_hostname }}",
        description="MQTT client id of the meter (1..63 characters), also the CN of its client certificate.",
    ),
    whatwatt_topic_prefix=dict(
        type="str",
        default="meters",
        description="Topic prefix; the broker ACL lets a meter write C(<prefix>/<client_id>) only.",
    ),
    whatwatt_topic=dict(
        field="topic",
        default="{{ whatwatt_topic_prefix }}/{{ whatwatt_client_id }}",
        description="The one topic the meter publishes to (1..127 characters, no wildcards).",
    ),
    whatwatt_template=dict(
        field="template",
        type="str",
        default=_ROLE_TEMPLATE,
        description=[
            "Payload template (at most 1023 characters) with C(${variable}) placeholders.",
            "Default a flat JSON object with C(sys_id), C(P_In), C(P_Out), C(E_In), C(E_Out) and C(ts).",
        ],
    ),
    whatwatt_template_preset=dict(
        field="template_preset",
        description=[
            "A named template that replaces O(whatwatt_template) when set.",
            "C(compact) is the default template; C(home_assistant) carries the keys the vendor's Home Assistant"
            " integration reads (C(sys_id) plus C(power_in), C(energy_in), C(voltage_l1), ...; see"
            " docs/device-role.md).",
            "Null (the default) uses O(whatwatt_template); another name fails the meter before anything is sent.",
        ],
    ),
    whatwatt_skip_cn_check=dict(
        field="skip_cn_check",
        description="Let the meter skip the check of the broker certificate's name (only for SAN-less certificates).",
    ),
    whatwatt_name_check_ignores_ip_sans=dict(
        field="name_check_ignores_ip_sans",
        description=[
            "The meter's server-name check knows DNS names only, not IP SANs (behaviour the vendor leaves open).",
            "When true, a meter with an IP as O(whatwatt_broker_host) and O(whatwatt_skip_cn_check=false) is refused"
            " before anything is sent.",
        ],
    ),
    whatwatt_single_broker_certificate=dict(
        field="single_broker_certificate",
        description=[
            "The meter keeps only the first certificate of C(broker.certificate) (behaviour the vendor leaves open).",
            "When true, the meter is refused before anything is sent while the CA bundle holds several CAs.",
        ],
    ),
    whatwatt_password=dict(
        field="password",
        default="",
        description="Web UI password of the meter (Ansible Vault); empty when Web UI protection is off.",
    ),
    whatwatt_report_interval=dict(
        field="report_interval",
        description="Set C(services.report_interval) (1..3600 s) after the push; null leaves it alone.",
    ),
    whatwatt_force_certificates=dict(
        field="force_certificates",
        description="Push the certificates again even when the record says the meter has them.",
    ),
    whatwatt_record_dir=dict(
        field="record_dir",
        default="{{ whatwatt_pki_dir }}/devices",
        description="Controller directory of the per-meter records of what was pushed (needed for rollback).",
    ),
    whatwatt_verify=dict(
        type="bool",
        default=True,
        description="Verify after a push that changed something (connected and a message seen at the broker).",
    ),
    whatwatt_verify_all=dict(
        type="bool",
        default=False,
        description="Verify every meter of the batch, also those whose push changed nothing.",
    ),
    whatwatt_verify_timeout=dict(
        field="verify_timeout",
        type="int",
        description="Seconds the batch's verification waits for every meter.",
    ),
    whatwatt_monitor_client_id=dict(
        type="str",
        default="whatwatt-monitor",
        description="Monitoring identity (client certificate C(clients/<id>.crt|.key)) that subscribes to the topics.",
    ),
    whatwatt_verify_client_id=dict(
        type="str",
        default="whatwatt-verify",
        description=[
            "Reader identity of C(verify.yml) (it passes it as C(whatwatt_monitor_client_id)), so that a scheduled"
            " C(verify.yml) never displaces the verifier of a running C(site.yml). No meter may use it as client id.",
        ],
    ),
    whatwatt_watch_client_id=dict(
        type="str",
        default="whatwatt-watch",
        description=[
            "Reader identity for people and dashboards (C(mosquitto_sub) in the README, C(make demo)). No meter may"
            " use it as client id.",
        ],
    ),
    whatwatt_rollback=dict(
        field="rollback",
        description="Put back the previous settings and certificates of a meter that fails verification.",
    ),
    whatwatt_fail_on_drift=dict(
        type="bool",
        default=False,
        description=[
            "In check mode, fail a meter whose settings or certificates differ from the inventory instead of"
            " reporting it as changed (C(verify.yml) uses this for its audit).",
        ],
    ),
    whatwatt_device_workers=dict(
        field="workers",
        description="Meters of a batch worked on at the same time (threads in the controller process).",
    ),
    whatwatt_max_fail_percentage=dict(
        field="max_fail_percentage",
        description=[
            "Stop the rollout after a batch in which more than this percentage of the meters failed: later batches"
            " are not touched (C(site.yml) default 100: never; C(rotate.yml) and C(ca_rollover.yml) set"
            " C(whatwatt_rotate_max_fail_percentage), default 0).",
        ],
    ),
)

# What the role's argument specs say about a variable, in the order Ansible documents them.
_ROLE_SPEC_KEYS = ("description", "type", "elements", "choices", "required", "default", "no_log")


def role_option(name):
    """The argument spec of role variable ``name``: its own keys over those of the field it feeds."""
    entry = ROLE_OPTIONS[name]
    merged = {}
    if "field" in entry:
        merged.update({key: value for key, value in FIELDS[entry["field"]].items() if key in _SPEC_KEYS})
        if merged.get("no_log") is False:
            merged.pop("no_log")
    merged.update({key: value for key, value in entry.items() if key != "field"})
    if merged.get("required"):
        merged.pop("default", None)
    description = merged["description"]
    merged["description"] = description if isinstance(description, list) else [description]
    return {key: copy.deepcopy(merged[key]) for key in _ROLE_SPEC_KEYS if key in merged}


# The role variables a meter's device entry takes from that meter's own variables (the batch task resolves them
# per meter: ``plugins/plugin_utils/meter_vars.py``), and the device field each feeds. Beside these, an entry gets
# ``host`` (``ansible_host``, else the inventory name), ``port`` (``whatwatt_api_port``, else 80) and ``ca_path``/
# ``certs_dir`` (from ``whatwatt_pki_dir``).
METER_VARIABLES = {name: entry["field"] for name, entry in ROLE_OPTIONS.items() if entry.get("field") in DEVICE}
