# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every file that repeats the meter spec (plugins/module_utils/meter_spec.py) agrees with it.

A failure names the file and the field; ``python tools/gen_spec.py`` rewrites the generated ones.
"""

import importlib
import re
from pathlib import Path

import gen_spec
import pytest
import yaml

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import meter_spec
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.device_fleet import DEVICE_SPEC, FLEET_ARGUMENT_SPEC

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "device"
ACTIONS = "ansible_collections.whatwatt.secure_mqtt.plugins.action."
# module documentation stub -> the action plugin whose ARGUMENT_SPEC it documents
DOCUMENTED = ("device_info", "device_mqtt", "device_settings", "device_fleet", "device_verify", "device_fleet_result")


def _yaml(path):
    return yaml.safe_load((ROOT / path).read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", sorted(gen_spec.generated()))
def test_generated_files_follow_the_spec(path):
    assert (ROOT / path).read_text(encoding="utf-8") == gen_spec.generated()[path], (
        f"{path} differs from plugins/module_utils/meter_spec.py: run python tools/gen_spec.py"
    )


def test_every_role_option_feeds_a_known_field_of_the_same_kind():
    for name, entry in meter_spec.ROLE_OPTIONS.items():
        field = entry.get("field")
        assert field is None or field in meter_spec.FIELDS, f"ROLE_OPTIONS {name}: unknown field {field}"
        option = meter_spec.role_option(name)
        assert option.get("type") in ("str", "int", "bool", "path", "list", "float"), f"{name}: type {option}"
        if field and "default" in meter_spec.FIELDS[field] and not option.get("required"):
            spec_default = meter_spec.FIELDS[field]["default"]
            assert option.get("default") == spec_default or "default" in entry, (
                f"role option {name}: default {option.get('default')!r}, field {field} says {spec_default!r}"
            )


def test_role_defaults_follow_the_spec():
    defaults = _yaml("roles/device/defaults/main.yml")
    for name in meter_spec.ROLE_OPTIONS:
        option = meter_spec.role_option(name)
        if option.get("required"):
            assert name not in defaults, f"roles/device/defaults/main.yml: {name} is required, it has no default"
            continue
        assert name in defaults, (
            f"roles/device/defaults/main.yml: {name} is missing (spec default {option.get('default')!r})"
        )
        assert defaults[name] == option.get("default"), (
            f"roles/device/defaults/main.yml: {name} is {defaults[name]!r}, the spec says {option.get('default')!r}"
        )
    for name in defaults:
        assert name in meter_spec.ROLE_OPTIONS, (
            f"roles/device/defaults/main.yml: {name} is not in meter_spec.ROLE_OPTIONS"
        )


def _role_fleet_task():
    for path in ("roles/device/tasks/main.yml", "roles/device/tasks/batch.yml"):
        assert not [t for t in _yaml(path) if "ansible.builtin.set_fact" in t and "run_once" not in t], (
            f"{path}: a per-host set_fact (device_fleet resolves each meter's variables itself)"
        )
    tasks = _yaml("roles/device/tasks/batch.yml")
    main = _yaml("roles/device/tasks/main.yml")
    assert any(t.get("ansible.builtin.import_tasks") == "batch.yml" for t in main), "main.yml must import batch.yml"
    return next(t for t in tasks if "whatwatt.secure_mqtt.device_fleet" in t)["whatwatt.secure_mqtt.device_fleet"]


def test_the_role_passes_every_variable_to_its_field():
    fleet = _role_fleet_task()
    where = "roles/device/tasks/batch.yml"
    assert fleet.get("hosts") == "{{ ansible_play_batch }}", f"{where}: device_fleet must resolve the batch's hosts"
    for key in fleet:
        assert key in FLEET_ARGUMENT_SPEC, f"{where}: device_fleet option {key} is not in the spec"
    for name, entry in meter_spec.ROLE_OPTIONS.items():
        field = entry.get("field")
        if field in DEVICE_SPEC:
            # per meter: resolved by device_fleet from the meter's own variables
            assert meter_spec.METER_VARIABLES.get(name) == field, f"METER_VARIABLES: {name} does not feed {field}"
        elif field in FLEET_ARGUMENT_SPEC:
            assert name in str(fleet.get(field)), f"{where}: device_fleet {field} does not use {name}"
        else:
            used = str(fleet) + str(meter_spec.ROLE_OPTIONS["whatwatt_topic"]["default"])
            assert name in used or name == "whatwatt_pki_dir", f"{where}: {name} reaches no field"
    for name, field in meter_spec.METER_VARIABLES.items():
        assert field in DEVICE_SPEC, f"METER_VARIABLES: {name} feeds {field}, not a devices[] field"


def _doc_cell(value):
    """How docs/device-role.md writes a default."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return '`""`'
    return f"`{value}`"


def test_the_role_reference_states_the_spec_defaults():
    text = (ROOT / "docs" / "device-role.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`whatwatt_"):
            names = re.findall(r"`(whatwatt_\w+)`", cells[0])
            defaults = [d.strip() for d in cells[1].split(", ")] if len(names) > 1 else [cells[1]]
            rows.update(zip(names, defaults, strict=True))
    for name in meter_spec.ROLE_OPTIONS:
        option = meter_spec.role_option(name)
        assert name in rows, f"docs/device-role.md: the variables table has no row for {name}"
        if option.get("required"):
            assert rows[name] == "(required)", f"docs/device-role.md: {name} is required, the table says {rows[name]}"
        elif not (isinstance(option.get("default"), str) and "{{" in option["default"] or name == "whatwatt_template"):
            assert rows[name] == _doc_cell(option.get("default")), (
                f"docs/device-role.md: {name} default {rows[name]}, the spec says {_doc_cell(option.get('default'))}"
            )


_TYPES = dict(str=str, path=str, int=int, bool=bool, float=(int, float), list=list)


def test_the_example_inventory_gives_each_variable_its_type():
    values = _yaml("inventory/example/group_vars/all.yml")
    for name, value in values.items():
        if name not in meter_spec.ROLE_OPTIONS or value is None:
            continue
        option = meter_spec.role_option(name)
        if isinstance(value, str) and "{{" in value:
            continue
        assert isinstance(value, _TYPES[option["type"]]), (
            f"inventory/example/group_vars/all.yml: {name} is {value!r}, the spec says type {option['type']}"
        )
        if "choices" in option:
            assert value in option["choices"], (
                f"inventory/example/group_vars/all.yml: {name} not in {option['choices']}"
            )


def _documented_options(module):
    text = importlib.import_module(f"ansible_collections.whatwatt.secure_mqtt.plugins.modules.{module}").DOCUMENTATION
    doc = yaml.safe_load(text)
    options = dict(doc.get("options") or {})
    for fragment in doc.get("extends_documentation_fragment") or ():
        if fragment.startswith("whatwatt.secure_mqtt."):
            name = fragment.split(".")[2]
            frag = importlib.import_module(f"ansible_collections.whatwatt.secure_mqtt.plugins.doc_fragments.{name}")
            options.update(yaml.safe_load(frag.ModuleDocFragment.DOCUMENTATION).get("options") or {})
    return options


def _compare(spec, documented, where):
    for name, option in spec.items():
        assert name in documented, f"{where}: option {name} is not documented"
        doc = documented[name]
        for key, absent in (("type", "str"), ("default", None), ("choices", None), ("required", False),
                            ("elements", None), ("aliases", None)):  # fmt: skip
            assert doc.get(key, absent) == option.get(key, absent), (
                f"{where}: option {name}: {key} is {doc.get(key, absent)!r} in the documentation,"
                f" {option.get(key, absent)!r} in the spec"
            )
        if "options" in option:
            _compare(option["options"], doc.get("suboptions") or {}, f"{where} {name}[]")
    for name in documented:
        assert name in spec, f"{where}: documented option {name} is not in the spec"


@pytest.mark.parametrize("module", DOCUMENTED)
def test_the_module_documentation_follows_the_spec(module):
    spec = importlib.import_module(ACTIONS + module).ActionModule.ARGUMENT_SPEC
    if module == "device_fleet":
        spec = dict(spec, devices=dict(spec["devices"], options=DEVICE_SPEC))
    _compare(spec, _documented_options(module), f"plugins/modules/{module}.py DOCUMENTATION")
