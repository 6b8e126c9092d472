# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""device_settings planning: report interval and Web UI protection, against a local fake device."""

import json

import pytest
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_settings as ds
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattClient, WhatWattError

from harness.fake_device import FakeDevice

ADDR = "127.0.30.31"
LABEL = f"whatwatt-001 ({ADDR})"


def opts(**kwargs):
    base = dict(report_interval=None, protection=None, new_password=None, update_password="on_change", password="")
    base.update(kwargs)
    return base


def run(dev, options, check_mode=False):
    alternates = [options["new_password"]] if options.get("new_password") else []
    with WhatWattClient(
        dev.address,
        dev.port,
        password=options.get("password") or "",
        name="whatwatt-001",
        alternate_passwords=alternates,
        backoff=0.01,
    ) as client:
        return ds.run_settings(client, options, check_mode=check_mode)


@pytest.mark.parametrize("firmware", ["1.9.2", "1.10.3"])
def test_report_interval_idempotent(firmware):
    with FakeDevice(address=ADDR, firmware=firmware) as dev:
        check = run(dev, opts(report_interval=10), check_mode=True)
        assert check["changed"] is True and dev.settings["services"]["report_interval"] == 30
        result = run(dev, opts(report_interval=10))
        assert result["changed"] is True and result["previous"]["report_interval"] == 30
        assert result["settings"]["report_interval"] == 10
        assert json.loads(dev.log[-1][4]) == {"services": {"report_interval": 10}}
        dev.clear_log()
        assert run(dev, opts(report_interval=10))["changed"] is False
        assert dev.calls() == [("GET", "/api/v1/settings", 200)]
        assert run(dev, opts(report_interval=10), check_mode=True)["changed"] is False


@pytest.mark.parametrize(
    "options,message",
    [
        (opts(report_interval=0), "report_interval must be 1..3600 seconds, got 0"),
        (opts(report_interval=3601), "report_interval must be 1..3600 seconds, got 3601"),
        (opts(protection=True, new_password="x" * 32), "new_password must be at most 31 characters"),
        (opts(protection=True), "protection: true needs new_password"),
        (opts(new_password="a\tb"), "new_password must not contain control characters"),
    ],
)
def test_bad_input_before_any_request(options, message):
    with FakeDevice(address=ADDR) as dev:
        with pytest.raises(WhatWattError) as err:
            run(dev, options)
        assert str(err.value).startswith(LABEL + ": ") and message in str(err.value)
        assert dev.log == []


@pytest.mark.parametrize("firmware", ["1.9.2", "1.10.3"])
def test_enable_protection_then_idempotent(firmware):
    with FakeDevice(address=ADDR, firmware=firmware) as dev:
        first = run(dev, opts(protection=True, new_password="Secret-1"))
        assert first["changed"] is True and first["password_changed"] is True
        assert dev.settings["system"] == dict(dev.settings["system"], protection=True, password="Secret-1")
        assert "Secret-1" not in json.dumps(first)
        assert first["diff"]["after"]["password"] == "(changed, not shown)"
        # same variables again: the device only answers with the new password, which proves it
        second = run(dev, opts(protection=True, new_password="Secret-1"))
        assert second["changed"] is False
        third = run(dev, opts(protection=True, password="Secret-1", new_password="Secret-1"))
        assert third["changed"] is False


def test_password_rotation():
    with FakeDevice(address=ADDR, protection=True, password="old") as dev:
        check = run(dev, opts(protection=True, password="old", new_password="new"), check_mode=True)
        assert check["changed"] is True and dev.settings["system"]["password"] == "old"
        result = run(dev, opts(protection=True, password="old", new_password="new"))
        assert result["password_changed"] is True and dev.settings["system"]["password"] == "new"
        # rerun with the same variables: "old" is refused, "new" accepted -> nothing to do
        again = run(dev, opts(protection=True, password="old", new_password="new"))
        assert again["changed"] is False


def test_update_password_always():
    with FakeDevice(address=ADDR, protection=True, password="pw") as dev:
        result = run(dev, opts(password="pw", new_password="pw", update_password="always"))
        assert result["changed"] is True and result["changed_fields"] == ["password"]


def test_disable_protection():
    with FakeDevice(address=ADDR, protection=True, password="pw") as dev:
        result = run(dev, opts(protection=False, password="pw"))
        assert result["changed"] is True and dev.settings["system"]["protection"] is False
        assert json.loads(dev.log[-1][4]) == {"system": {"protection": False}}
        assert run(dev, opts(protection=False))["changed"] is False  # no password needed any more


def test_wrong_password_is_a_clear_error():
    with FakeDevice(address=ADDR, protection=True, password="pw") as dev:
        with pytest.raises(WhatWattError) as err:
            run(dev, opts(report_interval=5, password="nope"))
        assert str(err.value).startswith(f"{LABEL}: GET /api/v1/settings answered 401")


def test_device_rejects_value():
    with FakeDevice(address=ADDR) as dev:
        dev.inject = [(200, dev.settings_view(), {}), (400, {"error": "x", "message": "Out of range"}, {})]
        with pytest.raises(WhatWattError) as err:
            run(dev, opts(report_interval=5))
        assert str(err.value) == f"{LABEL}: PUT /api/v1/settings answered 400: Out of range"
