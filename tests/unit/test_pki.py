"""Unit tests of the fleet PKI decisions (module_utils/pki.py), driven directly, no Ansible.

Time-based cases build certificates and CRLs with past dates, or run the fleet with ``now`` in the
past, instead of sleeping.
"""

import datetime
import json
import os
import types

import pytest
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import pki as p
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import pki_crypto as c
from cryptography import x509
from cryptography.hazmat.primitives import serialization

DAY = datetime.timedelta(days=1)
NOW = c.utcnow()
RENEW = p.parse_duration("30d")


# ---------------------------------------------------------------- helpers
def make_ca(cn="Test CA", not_before=None, not_after=None):
    key = c.generate_key()
    cert = c.build_ca(key, c.make_name(cn), not_before or NOW - DAY, not_after or NOW + 3650 * DAY)
    return cert, key


@pytest.fixture(scope="module")
def ca():
    return make_ca()


def issue(spec, ca, not_before=None, not_after=None, subject=None, sans=None, server=None, key=None):
    key = key or c.generate_key()
    dns, ips = (spec.dns_names, spec.ip_addresses) if sans is None else sans
    cert = c.build_leaf(
        key.public_key(),
        subject or spec.subject,
        dns,
        ips,
        spec.is_server if server is None else server,
        ca[0],
        ca[1],
        not_before or NOW - DAY,
        not_after or NOW + 365 * DAY,
    )
    return files(cert, key)


def files(cert, key, key_pem=None):
    key_bytes = key_pem if key_pem is not None else (c.key_to_pem(key) if key else None)
    return types.SimpleNamespace(
        cert=cert,
        key=key,
        key_bytes=key_bytes,
        missing=cert is None or key_bytes is None,
    )


CLIENT = p.LeafSpec("client", "whatwatt-001")
SERVER = p.LeafSpec("server", "broker", dns_names=["mqtt.example.net"], ip_addresses=["192.0.2.10"])


def reasons(spec, leaf, ca_cert, **kwargs):
    return p.leaf_needs_issue(spec, leaf, ca_cert, NOW, RENEW, **kwargs)


def mtimes(root):
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            found[path] = os.stat(path).st_mtime_ns
    return found


# ------------------------------------------------- leaf_needs_issue: each reason on its own
def test_fresh_leaf_needs_nothing(ca):
    assert reasons(CLIENT, issue(CLIENT, ca), ca[0]) == []
    assert reasons(SERVER, issue(SERVER, ca), ca[0]) == []


def test_missing_certificate(ca):
    assert reasons(CLIENT, files(None, c.generate_key()), ca[0]) == ["missing"]


def test_missing_key(ca):
    leaf = issue(CLIENT, ca)
    assert reasons(CLIENT, files(leaf.cert, None), ca[0]) == ["missing"]


def test_unreadable_files(ca):
    leaf = types.SimpleNamespace(cert=None, key=None, key_bytes=b"garbage", missing=False)
    assert reasons(CLIENT, leaf, ca[0]) == ["unreadable"]


def test_key_mismatch(ca):
    leaf = issue(CLIENT, ca)
    other = c.generate_key()
    assert reasons(CLIENT, files(leaf.cert, other), ca[0]) == ["key_mismatch"]


def test_subject_drift(ca):
    leaf = issue(CLIENT, ca, subject=c.make_name("whatwatt-999"))
    assert reasons(CLIENT, leaf, ca[0]) == ["subject_drift"]


def test_organization_change_is_subject_drift(ca):
    spec = p.LeafSpec("client", "whatwatt-001", organization="Utility Ltd")
    assert reasons(spec, issue(CLIENT, ca), ca[0]) == ["subject_drift"]


def test_san_drift_ip(ca):
    leaf = issue(SERVER, ca, sans=(["mqtt.example.net"], [c.parse_ip("192.0.2.99")]))
    assert reasons(SERVER, leaf, ca[0]) == ["san_drift"]


def test_san_drift_dns_added(ca):
    spec = p.LeafSpec("server", "broker", dns_names=["mqtt.example.net", "broker.lan"], ip_addresses=["192.0.2.10"])
    assert reasons(spec, issue(SERVER, ca), ca[0]) == ["san_drift"]


def test_san_order_and_case_are_not_drift(ca):
    spec = p.LeafSpec("server", "broker", dns_names=["B.example", "a.example"], ip_addresses=["::1", "127.0.0.1"])
    leaf = issue(spec, ca, sans=(["a.example", "b.EXAMPLE"], [c.parse_ip("127.0.0.1"), c.parse_ip("::1")]))
    assert reasons(spec, leaf, ca[0]) == []


def test_profile_drift_wrong_eku(ca):
    leaf = issue(CLIENT, ca, server=True)
    assert reasons(CLIENT, leaf, ca[0]) == ["profile_drift"]


def test_profile_drift_pkcs8_key(ca):
    leaf = issue(CLIENT, ca)
    pkcs8 = leaf.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert reasons(CLIENT, files(leaf.cert, leaf.key, key_pem=pkcs8), ca[0]) == ["profile_drift"]


def test_not_signed_by_current_ca(ca):
    other = make_ca("Test CA")  # same name, other key: the signature decides
    assert reasons(CLIENT, issue(CLIENT, other), ca[0]) == ["not_signed_by_current_ca"]


def test_expiring_within_renew_before(ca):
    leaf = issue(CLIENT, ca, not_before=NOW - 340 * DAY, not_after=NOW + 25 * DAY)
    assert reasons(CLIENT, leaf, ca[0]) == ["expiring"]
    assert p.leaf_needs_issue(CLIENT, leaf, ca[0], NOW, p.parse_duration("20d")) == []


def test_expired(ca):
    leaf = issue(CLIENT, ca, not_before=NOW - 400 * DAY, not_after=NOW - 35 * DAY)
    assert reasons(CLIENT, leaf, ca[0]) == ["expiring"]


def test_forced(ca):
    assert reasons(CLIENT, issue(CLIENT, ca), ca[0], forced=True) == ["forced"]


def test_revoked_is_the_only_reason_and_wins(ca):
    leaf = issue(CLIENT, ca, not_after=NOW + DAY)
    assert reasons(CLIENT, leaf, ca[0], revoked=True, forced=True) == ["revoked"]
    assert reasons(CLIENT, files(None, None), ca[0], revoked=True) == ["revoked"]


def test_several_reasons_are_all_reported(ca):
    other = make_ca()
    leaf = issue(CLIENT, other, subject=c.make_name("x"), not_after=NOW + DAY)
    assert reasons(CLIENT, leaf, ca[0]) == ["subject_drift", "not_signed_by_current_ca", "expiring"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), ("90m", 5400), ("2w", 1209600), ("3600", 3600), (600, 600), ("45s", 45)],
)
def test_parse_duration(text, seconds):
    assert p.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["soon", "-1d", "1y", True])
def test_parse_duration_rejects(text):
    with pytest.raises(p.PkiError):
        p.parse_duration(text)


def test_bad_names_rejected():
    with pytest.raises(p.PkiError):
        p.LeafSpec("client", "../etc/passwd")
    with pytest.raises(p.PkiError):
        p.LeafSpec("server", "broker", ip_addresses=["not-an-ip"])


# ------------------------------------------------------------------ crl_needs_refresh
def crl(ca, serials=(), last=None, next_update=None):
    return c.build_crl(
        ca[0], ca[1], [(s, NOW - DAY) for s in serials], last or NOW - DAY, next_update or NOW + 30 * DAY, 1
    )


def test_crl_fine(ca):
    assert p.crl_needs_refresh([crl(ca, [5])], [ca[0]], [{5}], NOW, 7 * DAY) == []


def test_crl_missing(ca):
    assert p.crl_needs_refresh([], [ca[0]], [set()], NOW, 7 * DAY) == ["missing"]


def test_crl_refresh_before_next_update(ca):
    old = crl(ca, last=NOW - 25 * DAY, next_update=NOW + 5 * DAY)
    assert p.crl_needs_refresh([old], [ca[0]], [set()], NOW, 7 * DAY) == ["refresh"]
    assert p.crl_needs_refresh([old], [ca[0]], [set()], NOW, 3 * DAY) == []


def test_crl_revocations_changed(ca):
    assert p.crl_needs_refresh([crl(ca)], [ca[0]], [{7}], NOW, 7 * DAY) == ["revocations_changed"]


def test_crl_other_ca(ca):
    other = make_ca()
    assert p.crl_needs_refresh([crl(other)], [ca[0]], [set()], NOW, 7 * DAY) == ["ca_changed"]
    assert p.crl_needs_refresh([crl(ca)], [ca[0], other[0]], [set(), set()], NOW, 7 * DAY) == ["ca_changed"]


# ------------------------------------------------------------------ FleetPki end to end (files)
SERVERS = [{"name": "broker", "dns_names": ["localhost"], "ip_addresses": ["127.0.0.1"]}]
CLIENTS = ["whatwatt-001", "whatwatt-002", {"client_id": "whatwatt-003", "valid_days": 60}, "whatwatt-monitor"]


def fleet(path, **kwargs):
    kwargs.setdefault("servers", SERVERS)
    kwargs.setdefault("clients", CLIENTS)
    return p.FleetPki(str(path), **kwargs).run()


def test_a_run_removes_what_a_killed_run_left_and_check_mode_does_not(tmp_path):
    """A whole copy a SIGKILL left under a key's temporary name (atomic.write_atomic), also of a key no run
    rewrites, is removed by the next run, never by check mode."""
    root = tmp_path / "pki"
    fleet(root)
    leftovers = [root / "clients" / ".whatwatt-001.key.tmp", root / "clients" / ".gone.key.tmp", root / ".ca.key.tmp"]
    for path in leftovers:
        path.write_text("-----BEGIN PRIVATE KEY-----\n")
    assert fleet(root, check_mode=True)["changed"] is False
    assert all(path.exists() for path in leftovers)
    assert fleet(root)["changed"] is False
    assert not any(path.exists() for path in leftovers)


def test_check_mode_on_empty_dir_writes_nothing(tmp_path):
    root = tmp_path / "pki"
    result = fleet(root, check_mode=True)
    assert result["changed"] is True
    assert not root.exists()
    assert result["clients"]["whatwatt-001"]["reasons"] == ["missing"]
    assert result["clients"]["whatwatt-001"]["serial"] is None
    assert "clients/whatwatt-001.key" in result["changed_files"]


def test_first_run_then_idempotent(tmp_path):
    root = tmp_path / "pki"
    first = fleet(root)
    assert first["changed"]
    assert sorted(first["issued"]) == sorted(
        ["servers/broker"]
        + [f"clients/{n}" for n in ("whatwatt-001", "whatwatt-002", "whatwatt-003", "whatwatt-monitor")]
    )
    assert (os.stat(root).st_mode & 0o777) == 0o700
    assert (os.stat(root / "clients").st_mode & 0o777) == 0o700
    for key in ("ca.key", "clients/whatwatt-001.key", "servers/broker.key", "state.json"):
        assert (os.stat(root / key).st_mode & 0o777) == 0o600
    assert (root / "clients/whatwatt-001.key").read_bytes().startswith(c.SEC1_HEADER)
    before = mtimes(root)
    for check_mode in (False, True):
        again = fleet(root, check_mode=check_mode)
        assert again["changed"] is False, again["changed_files"]
        assert again["issued"] == []
        assert all(not leaf["changed"] and leaf["reasons"] == [] for leaf in again["clients"].values())
    assert mtimes(root) == before
    # results carry certificates, never keys
    text = json.dumps(first)
    assert "PRIVATE KEY" not in text
    assert first["clients"]["whatwatt-001"]["cert_pem"].startswith("-----BEGIN CERTIFICATE-----")


def test_check_mode_reports_without_writing(tmp_path):
    root = tmp_path / "pki"
    fleet(root)
    before = mtimes(root)
    result = fleet(root, clients=CLIENTS + ["whatwatt-004"], check_mode=True)
    assert result["changed"] is True
    assert result["issued"] == ["clients/whatwatt-004"]
    assert result["clients"]["whatwatt-004"]["serial"] is None
    assert "clients/whatwatt-004" in result["diff"]["after"]
    assert mtimes(root) == before


def test_moving_renew_before_renews_exactly_those_inside(tmp_path):
    root = tmp_path / "pki"
    fleet(root)
    result = fleet(root, renew_before="45d")
    assert result["issued"] == []
    result = fleet(root, renew_before="75d")  # whatwatt-003 is valid 60 days, the others 365
    assert result["issued"] == ["clients/whatwatt-003"]
    assert result["clients"]["whatwatt-003"]["reasons"] == ["expiring"]


def test_fleet_reasons_on_disk(tmp_path):
    root = tmp_path / "pki"
    fleet(root)
    (root / "clients/whatwatt-001.crt").unlink()
    os.replace(root / "clients/whatwatt-monitor.key", root / "clients/whatwatt-002.key")
    result = fleet(root, servers=[{"name": "broker", "dns_names": ["localhost"], "ip_addresses": ["127.0.0.2"]}])
    assert result["clients"]["whatwatt-001"]["reasons"] == ["missing"]
    assert result["clients"]["whatwatt-002"]["reasons"] == ["key_mismatch"]
    assert result["clients"]["whatwatt-monitor"]["reasons"] == ["missing"]
    assert result["servers"]["broker"]["reasons"] == ["san_drift"]
    assert result["servers"]["broker"]["sans"] == ["DNS:localhost", "IP:127.0.0.2"]
    assert result["clients"]["whatwatt-003"]["changed"] is False


def test_lifetime_shorter_than_renew_before_warns(tmp_path):
    result = fleet(tmp_path / "pki", clients=[{"client_id": "short", "valid_days": 7}])
    assert any("renew_before" in w for w in result["warnings"])


def test_renew_list_and_all(tmp_path):
    root = tmp_path / "pki"
    fleet(root)
    assert fleet(root, renew=["whatwatt-002"])["issued"] == ["clients/whatwatt-002"]
    assert len(fleet(root, renew="all")["issued"]) == 5


def test_diff_has_no_key_material(tmp_path):
    result = fleet(tmp_path / "pki")
    diff = result["diff"]["before"] + result["diff"]["after"]
    assert "clients/whatwatt-001: (absent)" in diff
    assert "subject=CN=whatwatt-001" in diff
    assert "PRIVATE" not in diff and "BEGIN" not in diff


def test_revocation_sticks_and_is_never_silently_reissued(tmp_path):
    root = tmp_path / "pki"
    first = fleet(root)
    serial = first["clients"]["whatwatt-002"]["serial"]
    result = fleet(root, revoke=["whatwatt-002"])
    assert result["changed"]
    assert result["clients"]["whatwatt-002"]["reasons"] == ["revoked"]
    assert result["clients"]["whatwatt-002"]["changed"] is True
    assert result["crl"]["revoked"] == [{"name": "whatwatt-002", "kind": "client", "serial": serial}]
    crls = c.load_crls((root / "crl.pem").read_bytes())
    assert c.crl_serials(crls[0]) == {int(serial, 16)}
    # dropped from the revoke list, still listed as a client, even with its files gone: not reissued
    (root / "clients/whatwatt-002.crt").unlink()
    before = mtimes(root)
    for attempt in range(2):
        again = fleet(root, renew="all") if attempt else fleet(root)
        assert again["clients"]["whatwatt-002"]["reasons"] == ["revoked"]
        assert "clients/whatwatt-002" not in again["issued"]
    assert not (root / "clients/whatwatt-002.crt").exists()
    assert mtimes(root).get(str(root / "crl.pem")) == before[str(root / "crl.pem")]
    # explicit re-enrolment: a new certificate, the old serial stays in the CRL
    back = fleet(root, renew=["whatwatt-002"])
    assert back["clients"]["whatwatt-002"]["reasons"] == ["missing", "forced"]
    assert back["clients"]["whatwatt-002"]["serial"] != serial
    assert [e["serial"] for e in back["crl"]["revoked"]] == [serial]
    assert fleet(root)["changed"] is False


def test_revoke_unknown_name_fails(tmp_path):
    with pytest.raises(p.PkiError):
        fleet(tmp_path / "pki", revoke=["whatwatt-typo"])


def test_crl_refreshed_before_next_update(tmp_path):
    # The rolling lifetime (crl_valid_days > 0), for relying parties that fetch CRLs.
    root = tmp_path / "pki"
    past = fleet(root, now=NOW - 25 * DAY, crl_valid_days=30)
    assert past["crl"]["next_update"] == c.isoformat(NOW + 5 * DAY)
    result = fleet(root, crl_valid_days=30)
    assert result["crl"]["changed"] and result["crl"]["reasons"] == ["refresh"]
    assert result["changed_files"] == ["crl.pem", "state.json"]  # state.json: the CRL number
    assert result["issued"] == []
    assert fleet(root, crl_valid_days=30)["changed"] is False


def test_crl_lasts_as_long_as_its_ca_by_default(tmp_path):
    root = tmp_path / "pki"
    first = fleet(root)
    ca_not_after = first["ca"]["not_after"]
    assert first["crl"]["next_update"] == ca_not_after
    # Nothing is due years later, as long as the CA lives: an unattended broker keeps its CRL.
    assert fleet(root, now=NOW + 3000 * DAY)["crl"]["changed"] is False
    # Every leaf the CA signed expires no later than the CRL: the CRL is never the first thing to lapse.
    leaves = list(first["clients"].values()) + list(first["servers"].values())
    assert all(leaf["not_after"] <= first["crl"]["next_update"] for leaf in leaves)


def test_a_rolling_crl_is_moved_to_the_ca_bound_lifetime(tmp_path):
    root = tmp_path / "pki"
    fleet(root, crl_valid_days=30)
    result = fleet(root)
    assert result["crl"]["reasons"] == ["next_update_changed"]
    assert result["crl"]["next_update"] == result["ca"]["not_after"]
    assert fleet(root)["changed"] is False


def test_crl_next_update(ca):
    assert p.crl_next_update(ca[0], NOW, 0) == ca[0].not_valid_after_utc
    assert p.crl_next_update(ca[0], NOW, 30) == NOW + 30 * DAY


def test_crl_bound_to_its_ca_is_never_refreshed_only_checked(ca):
    wanted = [ca[0].not_valid_after_utc]
    bound = crl(ca, next_update=ca[0].not_valid_after_utc)
    late = NOW + 3640 * DAY  # within refresh_before of the CA's end: signing again could not extend it
    assert p.crl_needs_refresh([bound], [ca[0]], [set()], late, 7 * DAY, wanted_next_update=wanted) == []
    rolling = crl(ca)
    assert p.crl_needs_refresh([rolling], [ca[0]], [set()], NOW, 7 * DAY, wanted_next_update=wanted) == [
        "next_update_changed"
    ]


def test_ca_rollover_walk(tmp_path):
    root = tmp_path / "pki"
    first = fleet(root)
    old_fp = first["ca"]["fingerprint_sha256"]
    fleet(root, revoke=["whatwatt-monitor"])

    intro = fleet(root, ca_rollover="introduce")
    assert intro["ca"]["reasons"] == ["next_introduced"] and intro["issued"] == []
    assert intro["ca"]["fingerprint_sha256"] == old_fp
    assert len(intro["ca"]["bundle_fingerprints"]) == 2
    assert len(x509.load_pem_x509_certificates((root / "ca-bundle.crt").read_bytes())) == 2
    assert len(c.load_crls((root / "crl.pem").read_bytes())) == 2
    for step in ("introduce", "none"):
        assert fleet(root, ca_rollover=step)["changed"] is False

    act = fleet(root, ca_rollover="activate")
    assert act["ca"]["reasons"] == ["next_activated"]
    assert act["ca"]["fingerprint_sha256"] != old_fp
    assert act["ca"]["subject"].endswith("G2")
    assert act["ca"]["bundle_fingerprints"][1] == old_fp
    assert sorted(act["issued"]) == [
        "clients/whatwatt-001",
        "clients/whatwatt-002",
        "clients/whatwatt-003",
        "servers/broker",
    ]
    assert act["clients"]["whatwatt-001"]["reasons"] == ["not_signed_by_current_ca"]
    assert act["clients"]["whatwatt-monitor"]["reasons"] == ["revoked"]
    assert (root / "ca-old.crt").exists()
    # the revoked monitor's serial stays in the old CA's CRL while that CA is trusted
    crls = c.load_crls((root / "crl.pem").read_bytes())
    assert [len(c.crl_serials(x)) for x in crls] == [0, 1]
    for step in ("activate", "none"):
        assert fleet(root, ca_rollover=step)["changed"] is False
    with pytest.raises(p.PkiError):
        fleet(root, ca_rollover="introduce")

    ret = fleet(root, ca_rollover="retire")
    assert ret["ca"]["reasons"] == ["old_retired"] and ret["issued"] == []
    assert not (root / "ca-old.crt").exists() and not (root / "ca-old.key").exists()
    assert len(ret["ca"]["bundle_fingerprints"]) == 1
    assert len(c.load_crls((root / "crl.pem").read_bytes())) == 1
    for step in ("retire", "none"):
        assert fleet(root, ca_rollover=step)["changed"] is False


def test_rollover_steps_out_of_order_fail(tmp_path):
    root = tmp_path / "pki"
    fleet(root)
    with pytest.raises(p.PkiError, match="introduce first"):
        fleet(root, ca_rollover="activate")
    assert fleet(root, ca_rollover="retire")["changed"] is False
    fleet(root, ca_rollover="introduce")
    with pytest.raises(p.PkiError, match="not activated"):
        fleet(root, ca_rollover="retire")


def write_byo(tmp_path, passphrase, cn="Corp Root CA"):
    cert, key = make_ca(cn)
    cert_path, key_path = tmp_path / f"{cn}.crt", tmp_path / f"{cn}.key"
    cert_path.write_bytes(c.cert_pem(cert))
    key_path.write_bytes(c.key_to_pem(key, passphrase))
    return {"cert_src": str(cert_path), "key_src": str(key_path), "key_passphrase": passphrase}, cert


def test_bring_your_own_ca_with_passphrase(tmp_path):
    root = tmp_path / "pki"
    byo, cert = write_byo(tmp_path, "s3cret")
    with open(byo["key_src"], "rb") as handle:
        byo_key = handle.read()
    assert b"ENCRYPTED" in byo_key
    result = fleet(root, ca=byo)
    assert result["ca"]["reasons"] == ["imported"]
    assert result["ca"]["fingerprint_sha256"] == c.fingerprint_sha256(cert)
    assert (root / "ca.key").read_bytes() == byo_key  # stays encrypted
    leaf = x509.load_pem_x509_certificate((root / "clients/whatwatt-001.crt").read_bytes())
    assert c.is_issued_by(leaf, cert)
    before = mtimes(root)
    assert fleet(root, ca=byo)["changed"] is False
    assert mtimes(root) == before
    with pytest.raises(p.PkiError, match="passphrase"):
        fleet(root, ca=dict(byo, key_passphrase="wrong"))
    with pytest.raises(p.PkiError, match="key_passphrase is needed"):
        fleet(root, ca=dict(byo, key_passphrase=None))


def test_bring_your_own_ca_rollover(tmp_path):
    root = tmp_path / "pki"
    old, old_cert = write_byo(tmp_path, "same", cn="Corp CA 2026")
    new, new_cert = write_byo(tmp_path, "same", cn="Corp CA 2027")
    fleet(root, ca=old)
    result = fleet(root, ca=new)  # a different cert_src alone changes nothing, it warns
    assert result["changed"] is False
    assert result["ca"]["fingerprint_sha256"] == c.fingerprint_sha256(old_cert)
    intro = fleet(root, ca=new, ca_rollover="introduce")
    assert intro["ca"]["reasons"] == ["next_introduced"]
    assert intro["ca"]["bundle_fingerprints"][1] == c.fingerprint_sha256(new_cert)
    act = fleet(root, ca=new, ca_rollover="activate")
    assert act["ca"]["fingerprint_sha256"] == c.fingerprint_sha256(new_cert)
    assert len(act["issued"]) == 5
    fleet(root, ca=new, ca_rollover="retire")
    assert fleet(root, ca=new)["changed"] is False


def test_generated_ca_key_encrypted_with_passphrase(tmp_path):
    root = tmp_path / "pki"
    result = fleet(root, ca={"key_passphrase": "vault-me", "organization": "Utility Ltd"})
    assert b"ENCRYPTED" in (root / "ca.key").read_bytes()
    assert result["ca"]["subject"] == "CN=WhatWatt Secure MQTT Root CA,O=Utility Ltd"
    assert result["clients"]["whatwatt-001"]["subject"] == "CN=whatwatt-001,O=Utility Ltd"
    assert fleet(root, ca={"key_passphrase": "vault-me", "organization": "Utility Ltd"})["changed"] is False
    with pytest.raises(p.PkiError):
        fleet(root)


@pytest.mark.parametrize(
    "kwargs,words",
    [
        (dict(kind="server", name="b", dns_names=["bad name!.example"]), ["dns_names", "bad name!.example"]),
        (dict(kind="server", name="b", dns_names=["-lead.example"]), ["not a valid DNS name"]),
        (dict(kind="server", name="b", ip_addresses=["300.1.2.3"]), ["ip_addresses", "300.1.2.3"]),
        (dict(kind="client", name="c" * 64), ["client_id", "1..63 bytes, got 64"]),
    ],
)
def test_leaf_spec_refuses_bad_names_before_anything_is_issued(kwargs, words):
    with pytest.raises(c.PkiError) as info:
        p.LeafSpec(**kwargs)
    assert all(word in str(info.value) for word in words), str(info.value)


def test_leaf_spec_accepts_wildcard_and_plain_dns_names():
    spec = p.LeafSpec("server", "b", dns_names=["*.example.net", "broker-1.lan", "localhost"])
    assert spec.dns_names == ["*.example.net", "broker-1.lan", "localhost"]


def test_identities_come_from_the_pki_not_from_this_runs_clients(tmp_path):
    root = tmp_path / "pki"
    fleet(root)
    # A run that knows only part of the fleet (--limit, an inventory slice) still reports every identity.
    part = fleet(root, clients=["whatwatt-001", "whatwatt-new"])
    assert part["identities"] == ["whatwatt-001", "whatwatt-002", "whatwatt-003", "whatwatt-monitor", "whatwatt-new"]
    revoked = fleet(root, revoke=["whatwatt-002"])
    assert "whatwatt-002" not in revoked["identities"] and "whatwatt-new" in revoked["identities"]


def test_client_identities():
    assert p.client_identities(["a", "b"], ["c"], ["client:b", "server:a"]) == ["a", "c"]
