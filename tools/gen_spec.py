"""Write the files that follow the meter spec (plugins/module_utils/meter_spec.py) but cannot import it.

- ``roles/device/meta/argument_specs.yml``: the ``options`` of the ``main`` entry point, from ``ROLE_OPTIONS``
  (the text above ``options:`` is kept as it is);
- ``plugins/doc_fragments/device.py``: the connection options every device plugin documents, from ``CONNECTION``;
- ``roles/device/defaults/main.yml``: every variable that is not required, its default and its description;
- the variables table of ``docs/device-role.md`` (between its ``<!-- variables`` markers).

``python tools/gen_spec.py`` rewrites them; ``--check`` only says which differ (tests/unit/test_meter_spec.py
does the same).
"""

import argparse
import pathlib
import re
import sys
import textwrap

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / ".build" / "collections"))

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import meter_spec  # noqa: E402

ROLE_SPECS = "roles/device/meta/argument_specs.yml"
DOC_FRAGMENT = "plugins/doc_fragments/device.py"
ROLE_DEFAULTS = "roles/device/defaults/main.yml"
ROLE_DOC = "docs/device-role.md"
DOC_BEGIN = "<!-- variables: written by tools/gen_spec.py from meter_spec.ROLE_OPTIONS -->"
DOC_END = "<!-- end of variables -->"
_MARKUP = re.compile(r"\b[COV]\(([^()]*)\)")
_WIDTH = 118

_FRAGMENT_HEAD = '''# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# Written by tools/gen_spec.py from plugins/module_utils/meter_spec.py: change the spec, then run the tool.

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity


class ModuleDocFragment(object):
    """Options every device module shares (the spec lives in module_utils/meter_spec.py)."""

    DOCUMENTATION = r"""
'''
_FRAGMENT_TAIL = '''requirements:
  - requests (on the controller)
notes:
  - This is an action plugin. All work happens in the controller process, which talks to the
    meter's REST API directly; nothing is executed on the meter and no C(delegate_to) is needed.
    Give meters C(ansible_connection=local).
  - A failure on one meter fails only that meter's task; the other meters go on.
"""
'''


def _scalar(value):
    """One YAML scalar on one line."""
    return (
        yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True).strip().removesuffix("\n...")
    )


def _text(value, indent, prefix):
    """A description line, folded at the width (plain, else single-quoted) when it reads back as the same text."""
    lead = " " * indent + prefix
    joint = "\n" + " " * (indent + len(prefix))
    width = _WIDTH - len(lead)
    for quote in ("", "'"):
        text = quote + value.replace("'", "''" if quote else "'") + quote
        folded = joint.join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False))
        try:
            if yaml.safe_load(prefix + folded) == [value]:
                return lead + folded
        except yaml.YAMLError:
            pass
    return lead + _scalar(value)


def option_lines(name, spec, indent):
    """The YAML lines of one documented option."""
    out = [" " * indent + f"{name}:"]
    description = spec["description"]
    description = description if isinstance(description, list) else [description]
    out.append(" " * (indent + 2) + "description:")
    out.extend(_text(line, indent + 4, "- ") for line in description)
    for key in ("type", "elements", "choices", "required", "default", "no_log", "aliases"):
        if key in spec:
            value = spec[key]
            if key == "default" and isinstance(value, str) and len(value) > 60:
                out.append(" " * (indent + 2) + "default: >-")
                out.append(" " * (indent + 4) + value)
            else:
                out.append(" " * (indent + 2) + f"{key}: {_scalar(value)}")
    return out


_BATCH_ENTRY = """  batch:
    short_description: The device role's batch, for playbooks that include it once per batch (run_once)
    description:
      - What the C(main) entry point does for the whole batch, without a task per meter - the playbooks'
        C(tasks/meters.yml) includes it with C(run_once), so this validation runs once, on the batch's first meter.
        M(whatwatt.secure_mqtt.device_fleet) resolves and validates every meter's own variables itself, and a meter
        whose variables are wrong fails alone, naming the field.
      - Registers C(whatwatt_device_fleet) (every meter's outcome) and C(__whatwatt_report) (the meters that changed or
        failed) on every host of the batch; C(tasks/meters.yml) queues those for the report play after the
        batches (C(tasks/meters-report.yml), M(whatwatt.secure_mqtt.device_fleet_result) per queued meter) and
        ends the play when the batch's failures exceed C(whatwatt_max_fail_percentage); the others get no task.
    author:
      - whatwatt.secure_mqtt contributors"""


def role_specs(current):
    """``roles/device/meta/argument_specs.yml``: the ``main`` and ``batch`` entry points, options from ROLE_OPTIONS."""
    head = current.split("\n    options:\n", 1)[0]
    options = ["    options:"]
    for name in meter_spec.ROLE_OPTIONS:
        options.extend(option_lines(name, meter_spec.role_option(name), 6))
    return "\n".join([head, *options, _BATCH_ENTRY, *options]) + "\n"


def doc_fragment():
    """``plugins/doc_fragments/device.py`` from the connection fields."""
    lines = ["options:"]
    for name in meter_spec.CONNECTION:
        field = {k: v for k, v in meter_spec.FIELDS[name].items() if k != "no_log"}
        lines.extend(option_lines(name, field, 2))
    return _FRAGMENT_HEAD + "\n".join(lines) + "\n" + _FRAGMENT_TAIL


def _description(name):
    """The variable's description as one line of plain text (``C(x)``/``O(x)`` markup dropped)."""
    return " ".join(_MARKUP.sub(r"\1", line) for line in meter_spec.role_option(name)["description"])


def role_defaults():
    """``roles/device/defaults/main.yml``: each variable that is not required, with its description above it."""
    lines = [
        "---",
        "# Written by tools/gen_spec.py from plugins/module_utils/meter_spec.py (ROLE_OPTIONS): change the spec, then",
        "# run the tool. The same descriptions: roles/device/meta/argument_specs.yml and docs/device-role.md.",
    ]
    for name in meter_spec.ROLE_OPTIONS:
        option = meter_spec.role_option(name)
        lines.append("")
        lines.extend(textwrap.wrap(_description(name), _WIDTH, initial_indent="# ", subsequent_indent="# "))
        if option.get("required"):
            lines.append(f"# {name}: required, no default")
        else:
            lines.append(yaml.safe_dump({name: option.get("default")}, width=10_000, allow_unicode=True).strip())
    return "\n".join(lines) + "\n"


def _doc_default(option):
    if option.get("required"):
        return "(required)"
    value = option.get("default")
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return '`""`' if value == "" else f"`{value}`"


def role_doc(current):
    """``docs/device-role.md`` with its variables table written from ROLE_OPTIONS."""
    head, rest = current.split(DOC_BEGIN, 1)
    tail = rest.split(DOC_END, 1)[1]
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name in meter_spec.ROLE_OPTIONS:
        cells = (f"`{name}`", _doc_default(meter_spec.role_option(name)), _description(name))
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return head + DOC_BEGIN + "\n" + "\n".join(rows) + "\n" + DOC_END + tail


def generated(root=ROOT):
    """``{path: text}`` of every generated file as the spec says it should be."""
    return {
        ROLE_SPECS: role_specs((root / ROLE_SPECS).read_text(encoding="utf-8")),
        DOC_FRAGMENT: doc_fragment(),
        ROLE_DEFAULTS: role_defaults(),
        ROLE_DOC: role_doc((root / ROLE_DOC).read_text(encoding="utf-8")),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report the files that differ")
    args = parser.parse_args(argv)
    stale = []
    for path, text in generated().items():
        if (ROOT / path).read_text(encoding="utf-8") != text:
            stale.append(path)
            if not args.check:
                (ROOT / path).write_text(text, encoding="utf-8")
    for path in stale:
        print(f"{'differs from the spec' if args.check else 'written'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
