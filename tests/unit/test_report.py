"""The fleet report: certificate rows, each meter's recorded verification, the Prometheus textfile."""

import datetime
import json
import os

from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils import report as rp

NOW = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=datetime.UTC)


def leaf(days, serial="0a", changed=False, revoked=False):
    not_after = (NOW + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dict(subject="CN=x", serial=serial, not_after=not_after if serial else None,
                days_left=days if serial else None, fingerprint_sha256="AB", changed=changed, revoked=revoked,
                reasons=[])  # fmt: skip


def pki_result():
    return dict(
        path="/pki",
        ca=dict(
            subject="CN=CA",
            serial="01",
            not_after="2036-12-01T00:00:00Z",
            days_left=3650,
            fingerprint_sha256="CA",
            reasons=[],
            bundle_fingerprints=["CA"],
            rollover_phase="none",
        ),  # fmt: skip
        servers={"broker": leaf(300)},
        clients={
            "m-ok": leaf(200),
            "m-soon": leaf(10),
            "m-due": leaf(40, changed=True),
            "m-gone": leaf(0, serial=None),
            "m-revoked": leaf(100, revoked=True),
            "m-expired": leaf(-2),
            "whatwatt-monitor": leaf(365),
        },  # fmt: skip
        crl=dict(next_update="2027-01-01T00:00:00Z", revoked=[{"name": "m-revoked", "kind": "client", "serial": "0a"}]),
    )


def test_rows_and_status_soonest_first():
    rows = rp.certificate_rows(pki_result(), 30)
    status = {row["name"]: row["status"] for row in rows}
    assert status == {"ca": "ok", "broker": "ok", "m-ok": "ok", "m-soon": "expiring soon", "m-due": "renewal due",
                      "m-gone": "missing", "m-revoked": "revoked", "m-expired": "expired",
                      "whatwatt-monitor": "ok"}  # fmt: skip
    days = [row["days_left"] for row in rows]
    assert days == sorted(days)


def test_verifications_are_merged_per_record_dir_and_only_for_verified_meters(tmp_path):
    record_dir = str(tmp_path / "devices")
    devices = [dict(name=n, client_id=f"id-{n}", record_dir=record_dir) for n in "abc"]
    outcomes = {"a": {"verification": {"ok": True}}, "b": {"verification": {"ok": False, "reason": "no message"}},
                "c": {"changed": False}}  # fmt: skip
    assert rp.record_verifications(devices, outcomes, NOW) == [os.path.join(record_dir, "verification.json")]
    assert oct(os.stat(os.path.join(record_dir, "verification.json")).st_mode & 0o777) == "0o600"
    later = NOW + datetime.timedelta(hours=1)
    rp.record_verifications(devices, {"b": {"verification": {"ok": True}}}, later)
    got = rp.load_verifications(record_dir)
    assert got == {"id-a": {"ok": True, "reason": "", "at": "2026-12-02T12:00:00Z"},
                   "id-b": {"ok": True, "reason": "", "at": "2026-12-02T13:00:00Z"}}  # fmt: skip
    # A run that verified nothing writes nothing.
    assert rp.record_verifications(devices, {"c": {}}, later) == []


def test_unreadable_verification_file_counts_as_none(tmp_path):
    (tmp_path / "verification.json").write_text("{not json")
    assert rp.load_verifications(str(tmp_path)) == {}


def test_prometheus_file_parses_with_one_series_per_certificate():
    pki = pki_result()
    rows = rp.certificate_rows(pki, 30)
    verifications = {"id-a": {"ok": True, "at": "2026-12-02T12:00:00Z"}, "id-b": {"ok": False, "at": None}}
    text = rp.prometheus_text(pki, rows, verifications)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    expiry = families["whatwatt_certificate_not_after_timestamp_seconds"].samples
    live = [row for row in rows if row["status"] != "revoked" and row["not_after"]]
    assert len(expiry) == len(live) == 7  # ca, broker, 5 clients: the revoked and the missing one left out
    assert len({(s.labels["kind"], s.labels["name"]) for s in expiry}) == len(expiry)
    by_name = {s.labels["name"]: s.value for s in expiry}
    assert by_name["m-soon"] == (NOW + datetime.timedelta(days=10)).timestamp()
    attention = {s.labels["name"]: s.value for s in families["whatwatt_certificate_attention"].samples}
    assert attention["m-soon"] == 1 and attention["m-ok"] == 0 and attention["m-expired"] == 1
    (crl,) = families["whatwatt_crl_next_update_timestamp_seconds"].samples
    assert crl.value == datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC).timestamp()
    ok = {s.labels["client_id"]: s.value for s in families["whatwatt_meter_verification_ok"].samples}
    assert ok == {"id-a": 1, "id-b": 0}
    assert len(families["whatwatt_meter_verification_timestamp_seconds"].samples) == 1
    # Nothing but absolute times: the same inputs give the same file.
    assert rp.prometheus_text(pki, rows, verifications) == text


def test_label_values_are_escaped():
    pki = pki_result()
    pki["clients"] = {'we"ird\\name': leaf(50)}
    text = rp.prometheus_text(pki, rp.certificate_rows(pki, 30), {})
    names = {s.labels["name"] for f in text_string_to_metric_families(text) for s in f.samples if "name" in s.labels}
    assert 'we"ird\\name' in names


def test_report_document_is_json():
    json.dumps(rp.report_document(pki_result(), 30))
