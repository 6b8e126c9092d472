# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""expiry_findings: which dates at which meters would be refused are too close (verify.yml fails, report.yml
warns), read from the pki module's result."""

import datetime

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import expiry as e
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import pki as p

NOW = datetime.datetime(2026, 12, 2, 12, 0, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def at(days):
    return (NOW + days * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")


def pki_result(crl=3650, ca=3650, server=365, clients=None):
    clients = clients if clients is not None else {"m-1": 365, "m-2": 365}
    return dict(
        crl=dict(next_update=at(crl) if crl is not None else None),
        ca=dict(not_after=at(ca)),
        servers={"broker": dict(not_after=at(server), revoked=False)},
        clients={
            name: dict(not_after=at(days) if days is not None else None, revoked=False)
            for name, days in clients.items()
        },
    )


def test_a_fresh_fleet_has_nothing_close_and_says_when_it_would_first_be_refused():
    found = e.expiry_findings(pki_result(), now=NOW)
    assert found["findings"] == []
    assert found["first"]["kind"] == "client" and found["first"]["days_left"] == 365  # m-1 and m-2 at 365 d


def test_each_kind_is_reported_below_its_threshold_soonest_first():
    pki = pki_result(crl=10, ca=80, server=20, clients={"m-1": 29, "m-2": 31})
    found = e.expiry_findings(pki, now=NOW, min_days=30, ca_min_days=90)
    assert [(f["kind"], f["name"]) for f in found["findings"]] == [
        ("crl", "crl"), ("server", "broker"), ("client", "m-1"), ("ca", "ca")
    ]  # fmt: skip
    crl = found["findings"][0]
    assert (
        crl["msg"]
        == f"the CRL's nextUpdate is in 10 days, on {at(10)} (threshold 30 days): then the broker refuses every meter"
    )
    assert "meters refuse the broker" in found["findings"][1]["msg"]
    assert found["findings"][2]["msg"].startswith("client m-1 is in 29 days")
    assert found["first"]["kind"] == "crl"


def test_a_passed_date_says_so():
    found = e.expiry_findings(pki_result(clients={"m-1": -2}), now=NOW)
    assert found["findings"][0]["msg"].startswith(f"client m-1 passed on {at(-2)}")
    assert found["findings"][0]["days_left"] == -2


def test_revoked_and_not_yet_issued_certificates_are_not_dates_of_refusal():
    pki = pki_result(clients={"m-1": 1, "m-2": None})
    pki["clients"]["m-1"]["revoked"] = True
    assert e.expiry_findings(pki, now=NOW)["findings"] == []


def test_the_old_30_day_crl_would_be_caught_and_the_ca_bound_one_is_not():
    # The outage of issue 14: a 30-day CRL is the first thing to lapse; verify.yml must say so in time.
    assert [f["kind"] for f in e.expiry_findings(pki_result(crl=29), now=NOW)["findings"]] == ["crl"]
    assert e.expiry_findings(pki_result(crl=3650), now=NOW)["findings"] == []


def test_on_a_real_pki_result(tmp_path):
    result = p.FleetPki(str(tmp_path / "pki"), servers=[{"name": "b", "ip_addresses": ["127.0.0.1"]}],
                        clients=["m-1"], now=NOW).run()  # fmt: skip
    assert e.expiry_findings(result, now=NOW)["findings"] == []
    later = e.expiry_findings(result, now=NOW + 340 * DAY)  # 25 days before the 365-day leaves expire
    assert sorted((f["kind"], f["name"]) for f in later["findings"]) == [("client", "m-1"), ("server", "b")]
    assert all(f["days_left"] == 25 for f in later["findings"])
