"""The inventory pre-flight: what a run needs, checked before anything is written."""

import os

from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils import preflight as pf


def test_pki_dir_missing_or_empty_names_the_variable():
    for value in (None, "", "  "):
        (error,) = pf.check_pki_dir(value)
        assert error.startswith("whatwatt_pki_dir is not set")
        assert "Nothing has been written" in error


def test_pki_dir_relative_is_refused():
    (error,) = pf.check_pki_dir("pki")
    assert "relative" in error and "'pki'" in error


def test_pki_dir_inside_an_installed_collection_is_refused(tmp_path):
    root = tmp_path / "ansible_collections" / "whatwatt" / "secure_mqtt"
    (root / "playbooks").mkdir(parents=True)
    (root / "MANIFEST.json").write_text("{}")
    (error,) = pf.check_pki_dir(str(root / "playbooks" / "pki"), str(root))
    assert "inside the installed collection" in error
    assert pf.check_pki_dir(str(tmp_path / "elsewhere"), str(root)) == []
    # A sibling whose name only starts like the collection's is outside it.
    assert pf.check_pki_dir(str(root) + "-pki", str(root)) == []


def test_pki_dir_inside_a_development_checkout_is_allowed(tmp_path):
    (tmp_path / "galaxy.yml").write_text("namespace: whatwatt\n")
    assert pf.check_pki_dir(str(tmp_path / ".demo" / "pki"), str(tmp_path)) == []


def test_home_relative_pki_dir_is_absolute():
    assert pf.check_pki_dir("~/whatwatt-pki") == []


def test_meters_without_broker_host_are_named():
    hostvars = {f"m{i}": {"whatwatt_broker_host": "10.0.0.1"} for i in range(3)}
    hostvars.update({f"x{i}": {} for i in range(7)})
    hostvars["x0"] = {"whatwatt_broker_host": ""}
    ((error,), _inventory) = pf.check_meters(sorted(hostvars), hostvars)
    assert error.startswith("whatwatt_broker_host is not set for 7 meter(s) (x0, x1, x2, x3, x4 and 2 more)")
    assert pf.check_meters(["m0", "m1"], hostvars)[0] == []


class CountingHostvars(dict):
    """hostvars that count lookups: each one computes a host's variables in Ansible."""

    lookups = 0

    def get(self, key, default=None):
        self.lookups += 1
        return super().get(key, default)


def test_the_meters_are_read_once_and_what_later_plays_need_is_kept():
    hostvars = CountingHostvars(
        m0={"whatwatt_broker_host": "b", "whatwatt_client_id": "c-0"},
        m1={"whatwatt_broker_host": "b", "whatwatt_revoked": "yes"},
        m2={"whatwatt_broker_host": "b", "whatwatt_client_id": ""},
    )  # fmt: skip
    errors, inventory = pf.check_meters(["m0", "m1", "m2"], hostvars)
    assert errors == [] and hostvars.lookups == 3
    assert inventory == dict(client_ids={"m0": "c-0", "m1": "m1", "m2": "m2"}, revoked=["m1"])


def test_preflight_collects_every_error():
    errors = pf.preflight(None, ["a"], {"a": {}})[0]
    assert [e.split(" ", maxsplit=1)[0] for e in errors] == ["whatwatt_pki_dir", "whatwatt_broker_host"]


def test_collection_root_of_a_plugin_file():
    here = os.path.realpath(pf.__file__)
    root = pf.collection_root_of(here)
    assert os.path.isfile(os.path.join(root, "galaxy.yml"))
