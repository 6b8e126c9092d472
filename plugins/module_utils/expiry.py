# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dates at which meters would be refused, and which of them are too close.

A meter stops publishing when the first of these passes: the CRL's nextUpdate (the broker refuses every
client certificate), the CA's notAfter (everything), the broker certificate's notAfter (meters refuse the
broker), the meter's own certificate's notAfter (the broker refuses that meter). ``expiry_findings`` reads
the ``pki`` module's result (check mode is enough) and lists each of those dates that is closer than its
threshold; ``verify.yml`` fails on them and ``report.yml`` warns.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

import datetime

EXPIRY_ARGUMENT_SPEC = dict(
    pki=dict(type="dict", required=True),
    min_days=dict(type="int", default=30),
    ca_min_days=dict(type="int", default=90),
    fail=dict(type="bool", default=False),
)

_CONSEQUENCE = {
    "crl": "the broker refuses every meter",
    "ca": "every meter and the broker are refused",
    "server": "the meters refuse the broker",
    "client": "the broker refuses it",
}


def parse_time(value):
    """``YYYY-MM-DDTHH:MM:SSZ`` (the pki module's format) as an aware UTC datetime; None stays None."""
    if value in (None, ""):
        return None
    return datetime.datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def refusal_dates(pki):
    """Every ``(kind, name, date)`` at which something would be refused, soonest first.

    Revoked certificates are left out (they are refused already, on purpose); so are certificates not
    issued yet (``not_after`` null: site.yml issues them).
    """
    dates = []
    crl = pki.get("crl") or {}
    if crl.get("next_update"):
        dates.append(("crl", "crl", parse_time(crl["next_update"])))
    ca = pki.get("ca") or {}
    if ca.get("not_after"):
        dates.append(("ca", "ca", parse_time(ca["not_after"])))
    for kind, group in (("server", "servers"), ("client", "clients")):
        for name, leaf in sorted((pki.get(group) or {}).items()):
            if leaf.get("revoked") or not leaf.get("not_after"):
                continue
            dates.append((kind, name, parse_time(leaf["not_after"])))
    return sorted(dates, key=lambda item: (item[2], item[0], item[1]))


def expiry_findings(pki, now=None, min_days=30, ca_min_days=90):
    """``{findings, first}``: ``findings`` lists each refusal date closer than its threshold (``ca_min_days`` for
    the CA, ``min_days`` for the rest) as ``{kind, name, date, days_left, msg}``; ``first`` is the soonest
    refusal date of all (whether close or not), so a report can say how long an unattended fleet lasts."""
    now = now or datetime.datetime.now(datetime.UTC)
    findings = []
    first = None
    for kind, name, when in refusal_dates(pki):
        days_left = (when - now).total_seconds() / 86400
        entry = dict(kind=kind, name=name, date=when.strftime("%Y-%m-%dT%H:%M:%SZ"), days_left=int(days_left // 1))
        if first is None:
            first = dict(entry)
        threshold = ca_min_days if kind == "ca" else min_days
        if days_left >= threshold:
            continue
        label = "the CRL's nextUpdate" if kind == "crl" else "the CA" if kind == "ca" else f"{kind} {name}"
        verb = "passed on" if days_left < 0 else f"is in {entry['days_left']} days, on"
        entry["msg"] = f"{label} {verb} {entry['date']} (threshold {threshold} days): then {_CONSEQUENCE[kind]}"
        findings.append(entry)
    return dict(findings=findings, first=first)
