"""Meter discovery (the inventory plugin's logic) against fake clients: networks, outcomes, names."""

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattError
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils import discovery as d


def system(device_id, model="WW_Go_1.2", firmware="1.10.2", licence="PLUS"):
    return {"device": {"id": device_id, "model": model, "firmware": firmware, "name": "",
                       "license": {"type": licence}}, "wifi": {"mac": "A8:42:E1:00:00:01"}}  # fmt: skip


class FakeClient:
    """Answers by address: a dict is the system JSON, an exception is raised."""

    answers = {}

    def __init__(self, host, port, password="", timeout=2.0, retries=0):
        self.host, self.password = host, password
        self.auth_scheme = "digest" if password else None

    def system(self):
        answer = self.answers.get(self.host)
        if answer is None:
            raise WhatWattError(f"{self.host}: GET /api/v1/system connection failed (refused) after 1 attempt(s)")
        if isinstance(answer, Exception):
            raise answer
        if answer == "protected" and not self.password:
            raise WhatWattError(f"{self.host}: GET answered 401", status=401)
        return system("A842E10000FF") if answer == "protected" else answer

    def close(self):
        pass


def test_networks_expand_in_order_without_duplicates():
    assert d.expand_networks(["10.0.0.0/30", "10.0.0.2", "10.0.0.9/32"]) == ["10.0.0.1", "10.0.0.2", "10.0.0.9"]
    assert len(d.expand_networks(["127.0.0.0/22"])) == 1022
    assert d.expand_networks(["10.0.0.4/31"]) == ["10.0.0.4", "10.0.0.5"]


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "meters.example", "", "10.0.0.256"])
def test_a_network_that_cannot_be_parsed_is_named(bad):
    with pytest.raises(ValueError, match="networks: .* is neither an address nor a CIDR network"):
        d.expand_networks(["10.0.0.1", bad])


def test_too_many_addresses_is_refused():
    with pytest.raises(ValueError, match="more than 65536"):
        d.expand_networks(["10.0.0.0/8"])


def test_discover_keeps_only_meters_and_counts_the_rest():
    FakeClient.answers = {
        "10.0.0.1": system("A842E1000001"),
        "10.0.0.2": system("A842E1000002", firmware="1.7.5"),
        "10.0.0.3": system("A842E1000003", licence="FREE"),
        "10.0.0.4": {"device": {"model": "Shelly Plug", "id": "x"}},
        "10.0.0.5": WhatWattError("10.0.0.5: GET /api/v1/system answered 404: not found", status=404),
        "10.0.0.6": "protected",
        "10.0.0.7": system("A842E1000001"),  # the same meter at a second address
        "10.0.0.8": WhatWattError("10.0.0.8: GET /api/v1/system answered 200 with a body that is not JSON", status=200),
    }
    addresses = [f"10.0.0.{i}" for i in range(1, 11)]
    meters, summary = d.discover(addresses, client_factory=FakeClient)
    assert [m["device_id"] for m in meters] == ["A842E1000001", "A842E1000002", "A842E1000003"]
    assert meters[0]["address"] == "10.0.0.1"  # first address wins
    assert summary == {"meter": 4, "no_answer": 2, "not_a_meter": 3, "refused_password": 1, "error": 0, "duplicate": 1}
    ready = {m["device_id"]: (m["ready"], m["not_ready_reasons"]) for m in meters}
    assert ready["A842E1000001"] == (True, [])
    assert not ready["A842E1000002"][0] and "firmware 1.7.5 is below 1.7.6" in ready["A842E1000002"][1][0]
    assert not ready["A842E1000003"][0] and "licence FREE has no MQTT client" in ready["A842E1000003"][1][0]
    text = d.summary_text(summary, len(addresses))
    assert "10 address(es) probed: 4 meter, 2 no answer, 3 not a meter, 1 refused password, 1 duplicate" in text


def test_the_password_opens_protected_meters():
    FakeClient.answers = {"10.0.0.6": "protected"}
    meters, summary = d.discover(["10.0.0.6"], password="pw", client_factory=FakeClient)
    assert [m["device_id"] for m in meters] == ["A842E10000FF"] and meters[0]["auth"] == "digest"
    assert summary["refused_password"] == 0


def test_names_come_from_the_device_id():
    assert d.host_name("A842E1004601") == "whatwatt-a842e1004601"
    assert d.host_name("A842E1004601", "site1-{id}") == "site1-a842e1004601"
