"""How long one pki task takes for 1000 devices (printed, never asserted: run with ``-s`` to see it).

One ``ansible-playbook`` run issues the CA, one broker certificate and 1003 client certificates
(1000 meters from the inventory plus the three reader identities) in one task; the second run checks every leaf
and changes nothing.
"""

import os

import pytest

from tests.integration.test_pki_openssl import Runner, mtimes

pytestmark = pytest.mark.integration


def test_one_task_for_1000_devices(tmp_path):
    runner = Runner(tmp_path, 1000)
    first = runner.run()
    assert first.changed == 1 and len(first.result["issued"]) == 1004
    before = mtimes(runner.pki)
    second = runner.run()
    assert second.changed == 0 and second.result["issued"] == []
    assert mtimes(runner.pki) == before
    # 1000 meters + the three reader identities (monitor, verify, watch), a .crt and a .key each
    assert len(os.listdir(os.path.join(runner.pki, "clients"))) == 2 * (1000 + 3)
    print(
        f"\npki, 1000 devices: first run (issue 1004 leaves) {first.elapsed:.1f}s, "
        f"second run (check 1004 leaves, no change) {second.elapsed:.1f}s (whole ansible-playbook runs)"
    )
