# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fake device's own checks (tools/harness/fake_device.py), so a broken fake cannot make the real tests pass."""

from harness.fake_device import FakeDevice


def test_fake_put_merges_and_hides_secrets():
    with FakeDevice(address="127.0.30.9") as dev:
        dev._put_mqtt({"client": {"certificate": "C", "key": "K" * 10}, "url": "mqtts://x:8883"}, replace=False)
        dev._put_mqtt({"enable": True}, replace=False)
        view = dev.mqtt_view()
        assert view["key_len"] == 10 and view["url"] == "mqtts://x:8883" and view["enable"] is True
        assert "client" not in view and "broker" not in view
        status, _answer, _h = dev._put_mqtt({"url": "http://x"}, replace=False)
        assert status == 400


def test_fake_digest_rejects_wrong_password():
    import requests
    from requests.auth import HTTPDigestAuth

    with FakeDevice(address="127.0.30.9", protection=True, password="right") as dev:
        url = f"http://{dev.address}:{dev.port}/api/v1/system"
        assert requests.get(url, auth=HTTPDigestAuth("", "wrong"), timeout=5).status_code == 401
        assert requests.get(url, auth=HTTPDigestAuth("", "right"), timeout=5).status_code == 200
        assert requests.get(url, timeout=5).status_code == 401
