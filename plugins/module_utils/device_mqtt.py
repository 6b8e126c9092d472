# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The device_mqtt run: one meter's MQTT settings and certificates, planned, pushed, confirmed and recorded.

``run_mqtt`` is the whole run of the ``device_mqtt`` action (and of each meter of ``device_fleet``); the decisions
it uses have a file each: ``device_fields`` (the readable fields and their limits), ``device_certs`` (loading and
checking the certificates, fingerprints), ``device_records`` (the controller's record of what was pushed) and
``device_plan`` (what differs, the PUT body, the diff, the confirmation). Plain functions without Ansible glue, so
unit tests drive them directly.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from urllib.parse import urlsplit

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import meter_spec, naming
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import (
    WhatWattError,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_certs import (
    load_certificates,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_fields import (
    READABLE_DEFAULTS,
    validate_readable,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_plan import (
    as_text,
    confirm_applied,
    desired_readable,
    plan_mqtt,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_records import (
    check_record_name,
    load_generation_files,
    load_record,
    new_record,
    record_entry,
    record_path,
    save_record,
)


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
            files = dict(ca=as_text(certs.ca_pem), cert=as_text(certs.cert_pem), key=as_text(certs.key_pem))
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
