# -*- coding: utf-8 -*-
# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the mosquitto role: the decisions its tasks would otherwise make in Jinja (docs: <filter>.yml)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import naming


def acl_problems(identities):
    """The problems of the client ids the broker ACL names (``naming.client_id_problems``), one line per bad id."""
    out = []
    for identity in identities or ():
        problems = naming.client_id_problems(identity)
        if problems:
            out.append("; ".join(problems))
    return out


class FilterModule:
    def filters(self):
        return {"mosquitto_acl_problems": acl_problems}
