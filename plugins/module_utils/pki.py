# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet PKI on the controller: every decision of the ``pki`` module, as plain Python.

One ``FleetPki(...).run()`` walks the whole fleet: the CA key is loaded once, each leaf file is
read and parsed once, and only the leaves that need it are (re)issued. ``leaf_needs_issue`` is the
single answer to "why must this certificate be issued again?".
"""

from __future__ import absolute_import, division, print_function


import datetime
import json
import os
import re

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import naming
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import pki_crypto as c
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.atomic import (
    clear_leftovers_in,
    ensure_dir,
    read_bytes,
    write_atomic,
)
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.pki_crypto import PkiError

# Why a leaf is (re)issued. ``revoked`` is the one reason that never leads to an issue.
REASON_MISSING = "missing"
REASON_UNREADABLE = "unreadable"
REASON_KEY_MISMATCH = "key_mismatch"
REASON_SUBJECT_DRIFT = "subject_drift"
REASON_SAN_DRIFT = "san_drift"
REASON_PROFILE_DRIFT = "profile_drift"
REASON_NOT_SIGNED = "not_signed_by_current_ca"
REASON_EXPIRING = "expiring"
REASON_FORCED = "forced"
REASON_REVOKED = "revoked"

ROLLOVER_CHOICES = ("none", "introduce", "activate", "retire")
DEFAULT_CA_CN = "WhatWatt Secure MQTT Root CA"
# The naming rules live in naming.py; these names stay for the code that imports them.
CLIENT_ID_MAX = naming.CLIENT_ID_MAX
NAME_RE = naming.FILE_NAME_RE
_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

CERT_MODE = 0o644
KEY_MODE = 0o600
DIR_MODE = 0o700


def parse_duration(value):
    """``30d``, ``12h``, ``90m``, ``2w``, ``3600s`` or a number of seconds -> timedelta."""
    if isinstance(value, bool):
        raise PkiError(f"not a duration: {value!r}")
    if isinstance(value, (int, float)):
        return datetime.timedelta(seconds=value)
    match = _DURATION_RE.match(str(value))
    if not match:
        raise PkiError(f"not a duration (use Nd, Nh, Nm, Nw or seconds): {value!r}")
    return datetime.timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


class LeafSpec:
    """What a leaf certificate must look like."""

    def __init__(self, kind, name, common_name=None, dns_names=(), ip_addresses=(), valid_days=365, organization=None):
        if kind not in ("server", "client"):
            raise PkiError(f"unknown leaf kind {kind!r}")
        problem = naming.pki_name_problem(kind, name)
        if problem:
            raise PkiError(problem)
        self.kind = kind
        self.name = name
        self.common_name = common_name or name
        try:
            self.dns_names = [c.check_dns_name(d) for d in dns_names or ()]
            self.ip_addresses = [c.parse_ip(ip) for ip in ip_addresses or ()]
        except PkiError as exc:
            raise PkiError(f"{kind} {name}: dns_names/ip_addresses: {exc}") from None
        self.valid_days = int(valid_days)
        if self.valid_days < 1:
            raise PkiError(f"{kind} {name}: valid_days must be at least 1")
        self.organization = organization

    @property
    def is_server(self):
        return self.kind == "server"

    @property
    def subject(self):
        return c.make_name(self.common_name, self.organization)

    @property
    def eku(self):
        return c.server_auth_oid() if self.is_server else c.client_auth_oid()

    @property
    def sans(self):
        return c.format_sans(self.dns_names, self.ip_addresses)

    @property
    def key(self):
        """Identity used in state.json and results: ``client:whatwatt-001``."""
        return f"{self.kind}:{self.name}"


class LeafFiles:
    """A leaf's certificate and key as found on disk, parsed once."""

    def __init__(self, cert_path, key_path):
        self.cert_path = cert_path
        self.key_path = key_path
        self.cert_bytes = read_bytes(cert_path)
        self.key_bytes = read_bytes(key_path)
        self.cert = c.try_load_cert(self.cert_bytes)
        self.key = None
        if self.key_bytes:
            try:
                self.key = c.load_key(self.key_bytes)
            except PkiError:
                self.key = None

    @property
    def missing(self):
        return self.cert_bytes is None or self.key_bytes is None


def leaf_needs_issue(spec, files, ca_cert, now, renew_before, revoked=False, forced=False):
    """Every reason why ``spec`` must be (re)issued, in a fixed order; [] when the leaf is fine.

    ``files`` is a LeafFiles (or any object with cert, key, key_bytes, missing), ``ca_cert`` the
    current CA certificate. A revoked leaf only ever reports ``revoked``: it is never reissued
    silently.
    """
    if revoked:
        return [REASON_REVOKED]
    reasons = []
    if files.missing:
        reasons.append(REASON_MISSING)
    elif files.cert is None or files.key is None:
        reasons.append(REASON_UNREADABLE)
    else:
        cert = files.cert
        if c.public_der(files.key) != c.public_der(cert):
            reasons.append(REASON_KEY_MISMATCH)
        if cert.subject != spec.subject:
            reasons.append(REASON_SUBJECT_DRIFT)
        dns_names, ips = c.cert_sans(cert)
        if {d.lower() for d in dns_names} != {d.lower() for d in spec.dns_names} or set(ips) != set(spec.ip_addresses):
            reasons.append(REASON_SAN_DRIFT)
        if (
            c.cert_eku(cert) != {spec.eku}
            or c.is_ca_cert(cert)
            or not files.key_bytes.lstrip().startswith(c.SEC1_HEADER)
        ):
            reasons.append(REASON_PROFILE_DRIFT)
        if ca_cert is None or not c.is_issued_by(cert, ca_cert):
            reasons.append(REASON_NOT_SIGNED)
        if cert.not_valid_after_utc - now <= renew_before:
            reasons.append(REASON_EXPIRING)
    if forced:
        reasons.append(REASON_FORCED)
    return reasons


def crl_next_update(ca_cert, now, valid_days):
    """When a CRL signed now by ``ca_cert`` should say the next one is due.

    ``valid_days`` 0 (the default): the CA's own notAfter. The broker never fetches a CRL: every CRL reaches
    it through the mosquitto role (revoke.yml pushes a new one at once), so nextUpdate protects against no
    replayed or withheld CRL here, while a short one makes an unattended broker refuse the whole fleet on
    the day it passes (OpenSSL: "CRL has expired"). Tied to the CA, the CRL lapses only when the CA does,
    that is never before a certificate the CA signed. A positive ``valid_days`` keeps the rolling
    ``now + valid_days`` (re-signed within ``refresh_before`` of it), for relying parties that fetch CRLs.
    """
    if int(valid_days) <= 0:
        return ca_cert.not_valid_after_utc
    return now + datetime.timedelta(days=int(valid_days))


def crl_needs_refresh(crls, cas, expected, now, refresh_before, wanted_next_update=None):
    """Reasons to rebuild crl.pem. ``crls``: parsed CRLs in file order; ``cas``: CA certs in bundle
    order; ``expected``: per CA (same order) the set of serials it must list.

    ``wanted_next_update``: per CA (same order) the nextUpdate a CRL must carry (a CA-bound lifetime,
    ``crl_next_update`` with 0 days): another one is ``next_update_changed``, and ``refresh`` never applies
    (signing again cannot move it). ``None``: rolling lifetime, ``refresh`` within ``refresh_before``."""
    if not crls:
        return ["missing"]
    if len(crls) != len(cas):
        return ["ca_changed"]
    reasons = []
    for crl, ca_cert, serials in zip(crls, cas, expected, strict=True):
        if crl.issuer != ca_cert.subject or not crl.is_signature_valid(ca_cert.public_key()):
            return ["ca_changed"]
        if c.crl_serials(crl) != serials and "revocations_changed" not in reasons:
            reasons.append("revocations_changed")
        next_update = crl.next_update_utc
        due = next_update is None or next_update - now <= refresh_before
        if wanted_next_update is None and due and "refresh" not in reasons:
            reasons.append("refresh")
    if wanted_next_update is not None:
        drifted = [crl.next_update_utc != want for crl, want in zip(crls, wanted_next_update, strict=True)]
        if any(drifted):
            reasons.append("next_update_changed")
    return reasons


def client_identities(cert_names, wanted, blocked):
    """The client identities the PKI holds: every ``clients/<id>.crt`` on disk (``cert_names``) and every client
    of this run (``wanted``), without the revoked (``blocked`` keys ``client:<id>``). Sorted.

    The broker's ACL is built from this, not from the play's hosts: a run limited to part of the fleet
    (``--limit``, an inventory or job slice) must never drop the other meters from the ACL. A meter leaves
    it only when it is revoked.
    """
    revoked = {key.split(":", 1)[1] for key in blocked if key.startswith("client:")}
    return sorted((set(cert_names) | set(wanted)) - revoked)


class CaSlot:
    """One CA on disk (current, next or old): certificate and, once needed, its key."""

    def __init__(self, root, stem):
        self.cert_path = os.path.join(root, f"{stem}.crt")
        self.key_path = os.path.join(root, f"{stem}.key")
        self.cert_bytes = read_bytes(self.cert_path)
        self.key_bytes = read_bytes(self.key_path)
        self.cert = c.try_load_cert(self.cert_bytes)
        self.key = None
        if self.cert_bytes is not None and self.cert is None:
            raise PkiError(f"{self.cert_path} is not a PEM certificate")

    @property
    def present(self):
        return self.cert is not None

    def set(self, cert, key, key_bytes):
        self.cert, self.key, self.key_bytes = cert, key, key_bytes
        self.cert_bytes = c.cert_pem(cert)

    def clear(self):
        self.cert = self.key = self.key_bytes = self.cert_bytes = None

    def load_key(self, passphrase):
        """Load (once) and check the key against the certificate."""
        if self.key is None:
            if self.key_bytes is None:
                raise PkiError(f"{self.key_path} is missing")
            self.key = c.load_key(self.key_bytes, passphrase, what=self.key_path)
            if c.public_der(self.key) != c.public_der(self.cert):
                raise PkiError(f"{self.key_path} does not match {self.cert_path}")
        return self.key

    def fingerprint(self):
        return c.fingerprint_sha256(self.cert) if self.cert else None


class FleetPki:
    """One pass over the PKI directory and the whole fleet. ``run()`` returns the module result."""

    def __init__(
        self,
        path,
        ca=None,
        servers=(),
        clients=(),
        valid_days=365,
        renew_before="30d",
        revoke=(),
        renew=(),
        ca_rollover="none",
        crl_valid_days=0,
        crl_refresh_before="7d",
        check_mode=False,
        now=None,
    ):
        ca = dict(ca or {})
        self.path = os.path.abspath(path)
        self.ca_cn = ca.get("common_name") or DEFAULT_CA_CN
        self.ca_org = ca.get("organization") or None
        self.ca_valid_days = int(ca.get("valid_days") or 3650)
        self.ca_cert_src = ca.get("cert_src")
        self.ca_key_src = ca.get("key_src")
        self.passphrase = ca.get("key_passphrase") or None
        if bool(self.ca_cert_src) != bool(self.ca_key_src):
            raise PkiError("ca.cert_src and ca.key_src must be given together")
        if ca_rollover not in ROLLOVER_CHOICES:
            raise PkiError(f"ca_rollover must be one of {', '.join(ROLLOVER_CHOICES)}")
        self.rollover = ca_rollover
        self.valid_days = int(valid_days)
        self.renew_before = parse_duration(renew_before)
        self.crl_valid_days = int(crl_valid_days)
        self.crl_refresh_before = parse_duration(crl_refresh_before)
        if self.crl_valid_days < 0:
            raise PkiError("crl_valid_days must be 0 (until the CA expires) or a number of days")
        if self.crl_valid_days and datetime.timedelta(days=self.crl_valid_days) <= self.crl_refresh_before:
            raise PkiError("crl_valid_days must be longer than crl_refresh_before")
        self.check_mode = check_mode
        self.now = now or c.utcnow()
        self.specs = self._specs(servers, clients)
        self.revoke = [str(n) for n in revoke or ()]
        if renew == "all":
            self.renew_all, self.renew = True, set()
        elif isinstance(renew, str):
            self.renew_all, self.renew = False, {renew}
        else:
            self.renew_all, self.renew = False, {str(n) for n in renew or ()}
        self.changed_files = []
        self.warnings = []
        self.diff_before = []
        self.diff_after = []

    # ----------------------------------------------------------------- input
    def _specs(self, servers, clients):
        specs = []
        for server in servers or ():
            if isinstance(server, str):
                server = {"name": server}
            specs.append(
                LeafSpec(
                    "server",
                    server.get("name"),
                    common_name=server.get("common_name"),
                    dns_names=server.get("dns_names") or (),
                    ip_addresses=server.get("ip_addresses") or (),
                    valid_days=server.get("valid_days") or self.valid_days,
                    organization=self.ca_org,
                )
            )
        for client in clients or ():
            if isinstance(client, dict):
                client_id = client.get("client_id") or client.get("name")
                days = client.get("valid_days") or self.valid_days
            else:
                client_id, days = str(client), self.valid_days
            specs.append(LeafSpec("client", client_id, valid_days=days, organization=self.ca_org))
        seen = set()
        for spec in specs:
            if spec.key in seen:
                raise PkiError(f"{spec.kind} {spec.name} is listed twice")
            seen.add(spec.key)
        return specs

    # ----------------------------------------------------------------- files
    def _p(self, *parts):
        return os.path.join(self.path, *parts)

    def _rel(self, path):
        return os.path.relpath(path, self.path)

    def _write(self, path, data, mode):
        if self.check_mode:
            current = read_bytes(path)
            changed = current is None or current != data or (os.stat(path).st_mode & 0o777) != mode
        else:
            changed = write_atomic(path, data, mode)
        if changed:
            self.changed_files.append(self._rel(path))
        return changed

    def _remove(self, path):
        if not os.path.exists(path):
            return False
        if not self.check_mode:
            os.unlink(path)
        self.changed_files.append(self._rel(path))
        return True

    def _ensure_dir(self, path):
        if self.check_mode:
            changed = not os.path.isdir(path) or (os.stat(path).st_mode & 0o777) != DIR_MODE
        else:
            changed = ensure_dir(path, DIR_MODE)
        if changed:
            self.changed_files.append(self._rel(path) + "/")
        return changed

    def _load_state(self):
        data = read_bytes(self._p("state.json"))
        state = {"version": 1, "ca_generation": 1, "crl_number": 0, "revoked": [], "blocked": []}
        if data:
            try:
                state.update(json.loads(data.decode("utf-8")))
            except ValueError:
                raise PkiError(f"{self._p('state.json')} is not valid JSON") from None
        return state

    # -------------------------------------------------------------------- CA
    def _new_ca(self, generation):
        key = c.generate_key()
        cn = self.ca_cn if generation <= 1 else f"{self.ca_cn} G{generation}"
        cert = c.build_ca(
            key,
            c.make_name(cn, self.ca_org),
            self.now - c.BACKDATE,
            self.now + datetime.timedelta(days=self.ca_valid_days),
        )
        return cert, key, c.key_to_pem(key, self.passphrase)

    def _byo(self):
        """The bring-your-own CA (cert, key, key bytes as given) or None."""
        if not self.ca_cert_src:
            return None
        cert_bytes = read_bytes(self.ca_cert_src)
        key_bytes = read_bytes(self.ca_key_src)
        if cert_bytes is None or key_bytes is None:
            raise PkiError("ca.cert_src or ca.key_src does not exist")
        cert = c.try_load_cert(cert_bytes)
        if cert is None or not c.is_ca_cert(cert):
            raise PkiError(f"{self.ca_cert_src} is not a CA certificate")
        key = c.load_key(key_bytes, self.passphrase, what=self.ca_key_src)
        if c.public_der(key) != c.public_der(cert):
            raise PkiError("ca.key_src does not match ca.cert_src")
        return cert, key, key_bytes

    def _ca_phase(self, state):
        """Load the CAs and walk the rollover; returns the list of CA reasons for the result."""
        self.current = CaSlot(self.path, "ca")
        self.next = CaSlot(self.path, "ca-next")
        self.old = CaSlot(self.path, "ca-old")
        byo = self._byo()
        reasons = []
        if not self.current.present:
            if self.next.present or self.old.present:
                raise PkiError("ca.crt is missing but a rollover is in progress: restore ca.crt/ca.key")
            if byo:
                self.current.set(*byo)
                reasons.append("imported")
            else:
                self.current.set(*self._new_ca(1))
                reasons.append("created")
                state["ca_generation"] = 1
        self.current.load_key(self.passphrase)
        byo_fp = c.fingerprint_sha256(byo[0]) if byo else None
        known = {self.current.fingerprint(), self.next.fingerprint(), self.old.fingerprint()}

        if self.rollover == "introduce":
            if self.old.present:
                raise PkiError("ca_rollover=introduce: the previous rollover is not retired yet")
            if not self.next.present:
                if byo and byo_fp != self.current.fingerprint():
                    self.next.set(*byo)
                elif byo:
                    raise PkiError(
                        "ca_rollover=introduce with a bring-your-own CA: give the new CA as cert_src/key_src"
                    )
                else:
                    generation = int(state.get("ca_generation", 1)) + 1
                    self.next.set(*self._new_ca(generation))
                    state["next_generation"] = generation
                reasons.append("next_introduced")
        elif self.rollover == "activate":
            if self.next.present:
                self.next.load_key(self.passphrase)
                self.old.set(self.current.cert, self.current.key, self.current.key_bytes)
                self.current.set(self.next.cert, self.next.key, self.next.key_bytes)
                self.next.clear()
                state["ca_generation"] = int(state.pop("next_generation", state.get("ca_generation", 1) + 1))
                reasons.append("next_activated")
            elif not self.old.present:
                raise PkiError("ca_rollover=activate: no new CA introduced (run ca_rollover=introduce first)")
        elif self.rollover == "retire":
            if self.next.present:
                raise PkiError("ca_rollover=retire: the introduced CA is not activated yet")
            if self.old.present:
                self.old.clear()
                reasons.append("old_retired")
        if byo and byo_fp not in known and not reasons:
            self.warnings.append(
                "ca.cert_src differs from the CA in the PKI directory; the directory's CA stays current "
                "(use ca_rollover=introduce/activate/retire to move to the new CA)"
            )
        if self.old.present:
            self.old.load_key(self.passphrase)
        if self.next.present:
            self.next.load_key(self.passphrase)
        return reasons

    def _write_cas(self):
        for slot in (self.current, self.next, self.old):
            if slot.present:
                # key first: an interrupted run never leaves a certificate without its key
                self._write(slot.key_path, slot.key_bytes, KEY_MODE)
                self._write(slot.cert_path, slot.cert_bytes, CERT_MODE)
            else:
                self._remove(slot.cert_path)
                self._remove(slot.key_path)
        bundle = b"".join(s.cert_bytes for s in self.trusted())
        self._write(self._p("ca-bundle.crt"), bundle, CERT_MODE)

    def trusted(self):
        """CAs in bundle order: current first, then the introduced or the old one."""
        return [s for s in (self.current, self.next, self.old) if s.present]

    def _signer_of(self, cert):
        for slot in self.trusted():
            if c.is_issued_by(cert, slot.cert):
                return slot
        return None

    # ----------------------------------------------------------------- leaves
    def _leaf_paths(self, kind, name):
        folder = "servers" if kind == "server" else "clients"
        return self._p(folder, f"{name}.crt"), self._p(folder, f"{name}.key")

    def _revocations(self, state, files_by_key):
        """Record every newly revoked name in state; returns the names revoked in this run."""
        blocked = set(state.get("blocked", []))
        revoked_now = []
        for name in self.revoke:
            keys = [k for k in (f"client:{name}", f"server:{name}") if k in files_by_key]
            if not keys:
                for kind in ("client", "server"):
                    if os.path.exists(self._leaf_paths(kind, name)[0]):
                        keys.append(f"{kind}:{name}")
            if not keys:
                raise PkiError(
                    f"revoke: {name!r} is neither a listed client or server nor a certificate in {self.path}"
                )
            for key in keys:
                if key in blocked:
                    continue
                kind = key.split(":", 1)[0]
                files = files_by_key.get(key) or LeafFiles(*self._leaf_paths(kind, name))
                entry = {"name": name, "kind": kind, "serial": None, "issuer_fingerprint": None}
                entry["revoked_at"] = c.isoformat(self.now)
                if files.cert is not None:
                    signer = self._signer_of(files.cert)
                    entry["serial"] = c.serial_hex(files.cert.serial_number)
                    entry["issuer_fingerprint"] = signer.fingerprint() if signer else None
                    entry["not_after"] = c.isoformat(files.cert.not_valid_after_utc)
                state["revoked"].append(entry)
                blocked.add(key)
                revoked_now.append(key)
        state["blocked"] = sorted(blocked)
        return revoked_now

    def _issue(self, spec, files):
        key = c.generate_key()
        ca = self.current
        cert = c.build_leaf(
            key.public_key(),
            spec.subject,
            spec.dns_names,
            spec.ip_addresses,
            spec.is_server,
            ca.cert,
            ca.key,
            self.now - c.BACKDATE,
            self.now + datetime.timedelta(days=spec.valid_days),
        )
        self._write(files.key_path, c.key_to_pem(key), KEY_MODE)
        self._write(files.cert_path, c.cert_pem(cert), CERT_MODE)
        return cert

    def _leaf_result(self, spec, files, cert, changed, reasons, fresh):
        result = {
            "changed": changed,
            "reasons": reasons,
            "revoked": REASON_REVOKED in reasons,
            "cert_path": files.cert_path,
            "key_path": files.key_path,
            "subject": spec.subject.rfc4514_string(),
            "sans": spec.sans,
            "serial": None,
            "fingerprint_sha256": None,
            "not_before": None,
            "not_after": None,
            "days_left": None,
            "cert_pem": None,
        }
        if cert is not None and not (fresh and self.check_mode):
            result.update(c.cert_summary(cert, self.now))
            result.pop("issuer")
            result["cert_pem"] = c.cert_pem(cert).decode("ascii")
        return result

    @staticmethod
    def _describe(label, summary):
        if summary is None:
            return f"{label}: (absent)"
        return (
            f"{label}: subject={summary['subject']} sans={','.join(summary['sans']) or '-'} "
            f"serial={summary['serial'] or '(new)'} not_after={summary['not_after'] or '(new)'}"
        )

    # -------------------------------------------------------------------- CRL
    def _crl_phase(self, state):
        cas = self.trusted()
        expected = []
        for slot in cas:
            fp = slot.fingerprint()
            expected.append(
                {
                    int(e["serial"], 16)
                    for e in state["revoked"]
                    if e.get("serial") and e.get("issuer_fingerprint") == fp
                }
            )
        crl_path = self._p("crl.pem")
        crls = c.load_crls(read_bytes(crl_path))
        wanted = None if self.crl_valid_days else [crl_next_update(s.cert, self.now, 0) for s in cas]
        reasons = crl_needs_refresh(
            crls, [s.cert for s in cas], expected, self.now, self.crl_refresh_before, wanted_next_update=wanted
        )
        if reasons:
            number = int(state.get("crl_number", 0)) + 1
            state["crl_number"] = number
            revoked_at = {}
            for e in state["revoked"]:
                if e.get("serial"):
                    revoked_at[int(e["serial"], 16)] = datetime.datetime.strptime(
                        e["revoked_at"], "%Y-%m-%dT%H:%M:%SZ"
                    ).replace(tzinfo=datetime.UTC)
            crls = []
            for slot, serials in zip(cas, expected, strict=True):
                crls.append(
                    c.build_crl(
                        slot.cert,
                        slot.key,
                        [(s, revoked_at[s]) for s in serials],
                        self.now - c.BACKDATE,
                        crl_next_update(slot.cert, self.now, self.crl_valid_days),
                        number,
                    )
                )
            self._write(crl_path, b"".join(c.crl_pem(x) for x in crls), CERT_MODE)
        next_update = crls[0].next_update_utc
        listed = []
        for slot, serials in zip(cas, expected, strict=True):
            for e in state["revoked"]:
                mine = e.get("serial") and e.get("issuer_fingerprint") == slot.fingerprint()
                if mine and int(e["serial"], 16) in serials and e not in listed:
                    listed.append(e)
        return {
            "path": crl_path,
            "changed": bool(reasons),
            "reasons": reasons,
            "next_update": c.isoformat(next_update) if next_update else None,
            "revoked": [{"name": e["name"], "kind": e["kind"], "serial": e["serial"]} for e in listed],
        }

    # -------------------------------------------------------------------- run
    def run(self):
        """Bring the directory to the wanted state (or tell what would change in check mode)."""
        for folder in (self.path, self._p("servers"), self._p("clients")):
            self._ensure_dir(folder)
            if not self.check_mode:  # what a run killed mid-write left (see atomic.write_atomic)
                clear_leftovers_in(folder)
        state = self._load_state()
        state_before = json.dumps(state, sort_keys=True)
        ca_before = self._ca_summary_or_none(self._p("ca.crt"))
        ca_reasons = self._ca_phase(state)
        self._write_cas()
        ca_after = c.cert_summary(self.current.cert, self.now)
        if ca_reasons:
            self.diff_before.append(self._describe("ca", ca_before))
            self.diff_after.append(self._describe("ca", ca_after))

        files_by_key = {}
        for spec in self.specs:
            files_by_key[spec.key] = LeafFiles(*self._leaf_paths(spec.kind, spec.name))
        revoked_now = set(self._revocations(state, files_by_key))
        blocked = set(state["blocked"])
        reenroll = set()
        for key in sorted(blocked):
            name = key.split(":", 1)[1]
            if name in self.renew and name not in self.revoke and key in files_by_key:
                reenroll.add(key)
        if reenroll:
            state["blocked"] = sorted(blocked - reenroll)
            blocked -= reenroll

        short = sorted(s.name for s in self.specs if datetime.timedelta(days=s.valid_days) <= self.renew_before)
        if short:
            self.warnings.append(
                f"valid_days is not longer than renew_before for {', '.join(short[:5])}: issued again on every run"
            )
        servers, clients = {}, {}
        latest_days = None
        for spec in self.specs:
            files = files_by_key[spec.key]
            forced = self.renew_all or spec.name in self.renew
            reasons = leaf_needs_issue(
                spec, files, self.current.cert, self.now, self.renew_before, revoked=spec.key in blocked, forced=forced
            )
            cert, fresh = files.cert, False
            if reasons and REASON_REVOKED not in reasons:
                before = self._leaf_before(spec, files)
                cert, fresh = self._issue(spec, files), True
                after = self._describe(f"{spec.kind}s/{spec.name}", self._fresh_summary(spec, cert))
                self.diff_before.append(before)
                self.diff_after.append(after)
                latest_days = max(latest_days or 0, spec.valid_days)
            changed = fresh or spec.key in revoked_now
            result = self._leaf_result(spec, files, cert, changed, reasons, fresh)
            (servers if spec.kind == "server" else clients)[spec.name] = result
        if latest_days and self.now + datetime.timedelta(days=latest_days) > self.current.cert.not_valid_after_utc:
            self.warnings.append(
                "the current CA expires before some of the certificates it just issued: plan a rollover"
            )
        if not ca_reasons and self.current.cert.not_valid_after_utc - self.now <= self.renew_before:
            self.warnings.append("the current CA expires within renew_before: plan a rollover")

        crl = self._crl_phase(state)
        if crl["changed"]:
            self.diff_before.append("crl: refresh" if crl["reasons"] != ["missing"] else "crl: (absent)")
            self.diff_after.append(
                f"crl: next_update={crl['next_update']} revoked={','.join(e['serial'] for e in crl['revoked']) or '-'}"
            )
        if json.dumps(state, sort_keys=True) != state_before or not os.path.exists(self._p("state.json")):
            self._write(
                self._p("state.json"), (json.dumps(state, sort_keys=True, indent=2) + "\n").encode("utf-8"), KEY_MODE
            )

        ca_result = dict(ca_after)
        ca_result.update(
            {
                "path": self.current.cert_path,
                "key_path": self.current.key_path,
                "bundle_path": self._p("ca-bundle.crt"),
                "changed": bool(ca_reasons),
                "reasons": ca_reasons,
                "rollover_phase": "introduced" if self.next.present else ("activated" if self.old.present else "none"),
                "bundle_fingerprints": [s.fingerprint() for s in self.trusted()],
            }
        )
        if self.check_mode and ca_reasons and ca_before is None:
            for field in ("serial", "fingerprint_sha256", "not_before", "not_after", "days_left"):
                ca_result[field] = None
        return {
            "changed": bool(self.changed_files),
            "changed_files": self.changed_files,
            "path": self.path,
            "ca": ca_result,
            "crl": crl,
            "servers": servers,
            "clients": clients,
            "identities": client_identities(
                [n[: -len(".crt")] for n in os.listdir(self._p("clients")) if n.endswith(".crt")]
                if os.path.isdir(self._p("clients"))
                else [],
                [s.name for s in self.specs if s.kind == "client"],
                state["blocked"],
            ),
            "issued": sorted(
                f"{k}s/{n}"
                for k, d in (("server", servers), ("client", clients))
                for n in d
                if d[n]["changed"] and not d[n]["revoked"]
            ),
            "warnings": self.warnings,
            "diff": {
                "before_header": self.path,
                "after_header": self.path,
                "before": "\n".join(self.diff_before) + ("\n" if self.diff_before else ""),
                "after": "\n".join(self.diff_after) + ("\n" if self.diff_after else ""),
            },
        }

    def _fresh_summary(self, spec, cert):
        if self.check_mode:
            return {"subject": spec.subject.rfc4514_string(), "sans": spec.sans, "serial": None, "not_after": None}
        return c.cert_summary(cert, self.now)

    def _leaf_before(self, spec, files):
        label = f"{spec.kind}s/{spec.name}"
        if files.cert is None:
            return self._describe(label, None)
        return self._describe(label, c.cert_summary(files.cert, self.now))

    def _ca_summary_or_none(self, path):
        cert = c.try_load_cert(read_bytes(path))
        return c.cert_summary(cert, self.now) if cert else None


def argument_spec():
    """The options of ``whatwatt.secure_mqtt.pki``: the module and its action plugin validate with this one spec."""
    return dict(
        path=dict(type="path", required=True),
        ca=dict(
            type="dict",
            default={},
            options=dict(
                common_name=dict(type="str", default="WhatWatt Secure MQTT Root CA"),
                organization=dict(type="str"),
                valid_days=dict(type="int", default=3650),
                cert_src=dict(type="path"),
                key_src=dict(type="path", no_log=False),
                key_passphrase=dict(type="str", no_log=True),
            ),
        ),
        servers=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                name=dict(type="str", required=True),
                common_name=dict(type="str"),
                dns_names=dict(type="list", elements="str", default=[]),
                ip_addresses=dict(type="list", elements="str", default=[]),
                valid_days=dict(type="int"),
            ),
        ),
        clients=dict(type="list", elements="raw", default=[]),
        valid_days=dict(type="int", default=365),
        renew_before=dict(type="raw", default="30d"),
        revoke=dict(type="list", elements="str", default=[]),
        renew=dict(type="raw", default=[]),
        ca_rollover=dict(type="str", default="none", choices=["none", "introduce", "activate", "retire"]),
        crl_valid_days=dict(type="int", default=0),
        crl_refresh_before=dict(type="raw", default="7d"),
    )


def run_pki(params, check_mode=False, diff=False):
    """One run of the module on validated ``params``: ``(result, warnings)``; PkiError on bad input.

    The module (on a remote host) and the action plugin (in the controller's worker) both end here.
    """
    fleet = FleetPki(
        params["path"],
        ca=params["ca"],
        servers=params["servers"],
        clients=params["clients"],
        valid_days=params["valid_days"],
        renew_before=params["renew_before"],
        revoke=params["revoke"],
        renew=params["renew"],
        ca_rollover=params["ca_rollover"],
        crl_valid_days=params["crl_valid_days"],
        crl_refresh_before=params["crl_refresh_before"],
        check_mode=check_mode,
    )
    result = fleet.run()
    warnings = result.pop("warnings")
    result_diff = result.pop("diff")
    if diff:
        result["diff"] = result_diff
    return result, warnings
