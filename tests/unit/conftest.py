"""Fixtures of the device-module unit tests: a PKI directory as the pki role writes it, and fake meters.

- ``pki_dir`` (module scope): ca-bundle.crt and clients/<name>.crt|.key for ``NAMES``.
- ``devices``: one started FakeDevice (tools/harness/fake_device.py) per address of ``IPS``.
"""

import os

import pytest
from harness.certs import InMemoryCa
from harness.fake_device import FakeDevice

from tests.unit.device_fleet_helpers import IPS, NAMES


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory):
    """ca-bundle.crt and clients/<name>.crt|.key for every meter, like the pki role writes them."""
    base = tmp_path_factory.mktemp("fleet-pki")
    pki = InMemoryCa()
    (base / "clients").mkdir()
    (base / "ca-bundle.crt").write_text(pki.ca_pem)
    for name in NAMES:
        cert, key = pki.client(name)
        (base / "clients" / f"{name}.crt").write_text(cert)
        key_file = base / "clients" / f"{name}.key"
        key_file.write_text(key)
        os.chmod(key_file, 0o600)
    return base


@pytest.fixture
def devices():
    devs = [FakeDevice(address=ip) for ip in IPS]
    for dev in devs:
        dev.__enter__()
    try:
        yield devs
    finally:
        for dev in devs:
            dev.__exit__(None, None, None)
