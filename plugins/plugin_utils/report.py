# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report (controller only): certificate rows from the pki result, each meter's last verification,
and the same facts as a Prometheus text-format file for node_exporter's textfile collector."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import datetime
import json
import os

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.atomic import ensure_dir, read_bytes, write_atomic
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.expiry import expiry_findings, parse_time
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.pki_crypto import isoformat

VERIFICATION_FILE = "verification.json"
VERIFICATION_FORMAT = 1


# -- certificate rows --------------------------------------------------------------------------------
def leaf_status(leaf, warn_days):
    """ok | expiring soon | renewal due | expired | missing | revoked, worst first."""
    days = leaf.get("days_left")
    if leaf.get("revoked"):
        return "revoked"
    if leaf.get("serial") is None:
        return "missing"
    if days is not None and int(days) < 0:
        return "expired"
    if leaf.get("changed"):
        return "renewal due"
    if days is not None and int(days) <= int(warn_days):
        return "expiring soon"
    return "ok"


def certificate_rows(pki, warn_days):
    """One row per certificate of a ``whatwatt.secure_mqtt.pki`` result (CA first in the input, rows sorted by
    days left, soonest first)."""
    ca = pki["ca"]
    rows = [
        dict(
            kind="ca",
            name="ca",
            subject=ca.get("subject"),
            serial=ca.get("serial"),
            not_after=ca.get("not_after"),
            days_left=int(ca.get("days_left") or 0),
            fingerprint_sha256=ca.get("fingerprint_sha256"),
            status="ok",
            reasons=ca.get("reasons") or [],
        )  # fmt: skip
    ]
    for kind in ("servers", "clients"):
        for name, leaf in sorted((pki.get(kind) or {}).items()):
            days = leaf.get("days_left")
            rows.append(
                dict(
                    kind=kind[:-1],
                    name=name,
                    subject=leaf.get("subject"),
                    serial=leaf.get("serial"),
                    not_after=leaf.get("not_after"),
                    days_left=int(days) if days is not None else -1,
                    fingerprint_sha256=leaf.get("fingerprint_sha256"),
                    status=leaf_status(leaf, warn_days),
                    reasons=leaf.get("reasons") or [],
                )  # fmt: skip
            )
    return sorted(rows, key=lambda row: row["days_left"])


def report_document(pki, warn_days, ca_warn_days=90, now=None):
    """What certificates.json holds; ``first_refusal`` / ``refusal_warnings`` are the dates at which meters would be
    refused (module_utils/expiry.py, the same verdict verify.yml fails on)."""
    crl = pki.get("crl") or {}
    refusals = expiry_findings(pki, now=now, min_days=warn_days, ca_min_days=ca_warn_days)
    return dict(
        ca_bundle_fingerprints=pki["ca"].get("bundle_fingerprints"),
        ca_rollover_phase=pki["ca"].get("rollover_phase"),
        crl_next_update=crl.get("next_update"),
        first_refusal=refusals["first"],
        refusal_warnings=refusals["findings"],
        revoked=crl.get("revoked") or [],
        certificates=certificate_rows(pki, warn_days),
    )


# -- each meter's last verification ------------------------------------------------------------------
def load_verifications(record_dir):
    """``{client_id: {ok, reason, at}}`` from ``<record_dir>/verification.json``; empty when there is none."""
    data = read_bytes(os.path.join(record_dir, VERIFICATION_FILE))
    if data is None:
        return {}
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError:
        return {}
    return doc.get("meters") or {} if isinstance(doc, dict) else {}


def record_verifications(devices, outcomes, now=None):
    """Merge this run's verdicts into each meter's ``<record_dir>/verification.json``.

    ``devices``: the device_fleet inputs (``name``, ``client_id``, ``record_dir``); ``outcomes``: its result's
    ``devices``. Only meters that were verified in this run (a ``verification`` verdict) are written, so a run
    that verifies nothing writes nothing. Returns the paths written.
    """
    when = isoformat(now or datetime.datetime.now(datetime.UTC))
    by_dir = {}
    for device in devices:
        outcome = outcomes.get(device.get("name")) or {}
        verdict = outcome.get("verification")
        if not verdict or not device.get("record_dir"):
            continue
        entry = dict(ok=bool(verdict.get("ok")), reason=verdict.get("reason") or "", at=when)
        by_dir.setdefault(device["record_dir"], {})[device.get("client_id") or device["name"]] = entry
    written = []
    for record_dir, entries in sorted(by_dir.items()):
        merged = load_verifications(record_dir)
        merged.update(entries)
        ensure_dir(record_dir, 0o700)
        text = json.dumps(dict(format=VERIFICATION_FORMAT, meters=merged), indent=1, sort_keys=True) + "\n"
        write_atomic(os.path.join(record_dir, VERIFICATION_FILE), text, 0o600)
        written.append(os.path.join(record_dir, VERIFICATION_FILE))
    return written


# -- Prometheus text format ----------------------------------------------------------------------------
def _epoch(text):
    when = parse_time(text)
    return when.timestamp() if when else None


def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _series(name, labels, value):
    inner = ",".join(f'{key}="{_label(val)}"' for key, val in labels.items())
    number = f"{value:.0f}" if float(value).is_integer() else f"{value:g}"
    return f"{name}{{{inner}}} {number}" if inner else f"{name} {number}"


# Absolute times only: a file of "seconds left" would freeze when the job that writes it stops, and alerts
# computed from it would never fire; `<timestamp> - time()` in the alert rule keeps counting down. It also keeps
# the file unchanged between runs when nothing changed (node_exporter's node_textfile_mtime_seconds says how old
# it is).
METRICS = {
    "whatwatt_certificate_not_after_timestamp_seconds": (
        "gauge",
        "The certificate's notAfter as a Unix time (revoked certificates are left out).",
    ),
    "whatwatt_certificate_attention": (
        "gauge",
        "1 when the certificate needs attention (expiring soon, renewal due, expired, missing), else 0.",
    ),
    "whatwatt_crl_next_update_timestamp_seconds": (
        "gauge",
        "The CRL's nextUpdate as a Unix time; after it the broker refuses every client.",
    ),
    "whatwatt_meter_verification_ok": (
        "gauge",
        "1 when the meter's last verification saw it connected and publishing, 0 when it failed.",
    ),
    "whatwatt_meter_verification_timestamp_seconds": ("gauge", "Unix time of the meter's last verification."),
}


def prometheus_text(pki, rows, verifications):
    """The report as Prometheus text exposition format: one series per certificate and metric (revoked ones left
    out: they are meant to lapse), the CRL, and one per verified meter."""
    series = {name: [] for name in METRICS}
    for row in rows:
        if row["status"] == "revoked" or not row.get("not_after"):
            continue
        labels = dict(kind=row["kind"], name=row["name"], serial=row.get("serial") or "")
        series["whatwatt_certificate_not_after_timestamp_seconds"].append(
            _series("whatwatt_certificate_not_after_timestamp_seconds", labels, _epoch(row["not_after"]))
        )
        series["whatwatt_certificate_attention"].append(
            _series("whatwatt_certificate_attention", labels, 0 if row["status"] == "ok" else 1)
        )
    next_update = _epoch((pki.get("crl") or {}).get("next_update"))
    if next_update is not None:
        series["whatwatt_crl_next_update_timestamp_seconds"].append(
            _series("whatwatt_crl_next_update_timestamp_seconds", {}, next_update)
        )
    for client_id, entry in sorted(verifications.items()):
        labels = dict(client_id=client_id)
        series["whatwatt_meter_verification_ok"].append(
            _series("whatwatt_meter_verification_ok", labels, 1 if entry.get("ok") else 0)
        )
        at = _epoch(entry.get("at"))
        if at is not None:
            series["whatwatt_meter_verification_timestamp_seconds"].append(
                _series("whatwatt_meter_verification_timestamp_seconds", labels, at)
            )
    lines = []
    for name, (kind, text) in METRICS.items():
        if series[name]:
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *series[name]]
    return "\n".join(lines) + "\n"
