# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action group ``device`` (meta/runtime.yml) holds every plugin that takes the connection options.

``module_defaults: {group/whatwatt.secure_mqtt.device: {password: ..., timeout: ..., retries: ...}}`` must reach
each plugin that calls a meter with them, and no other: a group default is passed to every member.
"""

import importlib
from pathlib import Path

import yaml

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import meter_spec

ROOT = Path(__file__).resolve().parents[2]
# what a group default sets: the connection options every member takes with their meter_spec meaning
GROUP_OPTIONS = ("password", "timeout", "retries")


def _spec(plugin):
    module = importlib.import_module(f"ansible_collections.whatwatt.secure_mqtt.plugins.action.{plugin}")
    return getattr(module.ActionModule, "ARGUMENT_SPEC", None) or {}


def takes_connection_options(spec):
    """True when every option of GROUP_OPTIONS is in ``spec`` as the meter spec declares it (same type)."""
    return all(name in spec and spec[name]["type"] == meter_spec.FIELDS[name]["type"] for name in GROUP_OPTIONS)


def test_the_device_group_lists_every_plugin_that_takes_the_connection_options():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    plugins = sorted(p.stem for p in (ROOT / "plugins" / "action").glob("*.py"))
    expected = sorted(p for p in plugins if takes_connection_options(_spec(p)))
    assert sorted(runtime["action_groups"]["device"]) == expected, "meta/runtime.yml action_groups.device"


def test_device_verify_is_not_in_the_group_because_its_timeout_is_the_wait():
    # its former option name timeout (an alias of verify_timeout) would take a group's HTTP timeout as its wait
    assert not takes_connection_options(_spec("device_verify"))
    assert _spec("device_verify")["verify_timeout"]["aliases"] == ["timeout"]
