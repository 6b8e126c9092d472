"""plugins/filter/mosquitto.py: mosquitto_install_plan, what apt has to do for the broker's packages."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.whatwatt.secure_mqtt.plugins.filter.mosquitto import FilterModule, install_plan
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.broker_host import upstream_version

PACKAGES = ["mosquitto", "logrotate"]


def dpkg(*rows):
    return "".join(f"{name}\t{status}\t{version}\n" for name, status, version in rows)


def test_up_to_date_needs_no_apt_run():
    out = dpkg(("mosquitto", "installed", "2.0.21-1~bpo12+1"), ("logrotate", "installed", "3.21.0-1"))
    assert install_plan(out, PACKAGES, "2.0.21") == dict(state=None, missing=[], version="2.0.21")


def test_a_missing_package_is_installed():
    out = dpkg(("mosquitto", "installed", "2.0.21-1"), ("logrotate", "config-files", "3.21.0-1"))
    assert install_plan(out, PACKAGES, "2.0.21") == dict(state="present", missing=["logrotate"], version="2.0.21")
    assert install_plan("", PACKAGES, "2.0.21") == dict(state="present", missing=PACKAGES, version=None)


def test_below_the_minimum_is_upgraded_in_place():
    out = dpkg(("mosquitto", "installed", "2.0.21-1"), ("logrotate", "installed", "3.21.0-1"))
    assert install_plan(out, PACKAGES, "2.1.0")["state"] == "latest"
    old = dpkg(("mosquitto", "installed", "2.0.11-1.2+deb12u1"), ("logrotate", "installed", "3.21.0-1"))
    assert install_plan(old, PACKAGES, "2.0.21")["state"] == "latest"  # Debian 12's own 2.0.11
    # numeric, not string, comparison: 2.0.9 < 2.0.21
    nine = dpkg(("mosquitto", "installed", "2.0.9-1"), ("logrotate", "installed", "1"))
    assert install_plan(nine, PACKAGES, "2.0.21")["state"] == "latest"
    assert install_plan(dpkg(("mosquitto", "installed", "1:2.1.2-3"), ("logrotate", "installed", "1")), PACKAGES,
                        "2.1.0")["state"] is None  # fmt: skip


def test_upstream_version_drops_epoch_and_revision():
    assert upstream_version("2.0.21-1~bpo12+1") == "2.0.21"
    assert upstream_version("1:2.1.2-3") == "2.1.2"
    assert upstream_version("") is None


def test_bad_arguments_are_named():
    with pytest.raises(AnsibleFilterError, match="packages must be a non-empty list"):
        install_plan("", [], "2.0.21")
    with pytest.raises(AnsibleFilterError, match="'two' is not a version"):
        install_plan("", PACKAGES, "two")


def test_the_filter_is_registered():
    assert FilterModule().filters()["mosquitto_install_plan"] is install_plan
