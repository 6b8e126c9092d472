# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The options of broker_tls (the module's documentation stub and the action plugin share them).

The handshake itself is controller code: ``plugins/plugin_utils/broker_tls.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

BROKER_TLS_ARGUMENT_SPEC = dict(
    address=dict(type="str", required=True),
    port=dict(type="int", default=8883),
    ca_path=dict(type="path", required=True),
    client_cert_path=dict(type="path", required=True),
    client_key_path=dict(type="path", required=True, no_log=False),
    expected=dict(type="dict", required=True),
    timeout=dict(type="int", default=10),
)
