# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the documentation stubs of the controller-only action plugins share with the plugins themselves.

An action plugin of the collection runs on the controller; its ``plugins/modules/<name>.py`` holds only its
documentation and a ``main`` that refuses to run as a module (``controller_only``), with the same argument spec as
the action plugin (ansible-test compares the documentation with it). The specs of the plugins whose logic lives in
``plugin_utils`` (controller code a module cannot import) are here.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type  # noqa: UP001 - required by ansible-test sanity

from ansible.module_utils.basic import AnsibleModule

BROKER_TLS_ARGUMENT_SPEC = dict(
    address=dict(type="str", required=True),
    port=dict(type="int", default=8883),
    ca_path=dict(type="path", required=True),
    client_cert_path=dict(type="path", required=True),
    client_key_path=dict(type="path", required=True, no_log=False),
    expected=dict(type="dict", required=True),
    timeout=dict(type="int", default=10),
)

REPORT_ARGUMENT_SPEC = dict(
    pki=dict(type="dict", required=True),
    dest=dict(type="path", required=True),
    warn_days=dict(type="int", default=30),
    ca_warn_days=dict(type="int", default=90),
    record_dir=dict(type="path"),
    prometheus_file=dict(type="path"),
)

PREFLIGHT_ARGUMENT_SPEC = dict(
    pki_dir=dict(type="raw"),
    meters=dict(type="list", elements="str", default=[]),
    brokers=dict(type="list", elements="str", default=[]),
    collection_root=dict(type="path"),
)


def controller_only(name, argument_spec, **kwargs):
    """The ``main`` of an action plugin's documentation stub: validate as the plugin does, then refuse to run."""
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True, **kwargs)
    module.fail_json(msg=f"whatwatt.secure_mqtt.{name} runs on the controller as an action plugin, never as a module")
