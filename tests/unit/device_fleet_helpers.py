"""Helpers of the device_fleet unit tests: the meters' names and addresses, the batch options, one run."""

import os

from harness.batch import batch_options

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_fleet as df
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattClient

IPS = [f"127.0.30.{150 + n}" for n in range(4)]
NAMES = [f"fleet-{n}" for n in range(4)]


def fleet_options(pki_dir, record_dir, devs, **extra):
    """The batch for fake meters ``devs`` (named ``NAMES`` in order) and the PKI directory ``pki_dir``."""
    devices = [(name, dev.address, dev.port) for name, dev in zip(NAMES, devs, strict=False)]
    paths = dict(ca_path=pki_dir / "ca-bundle.crt", certs_dir=pki_dir / "clients", record_dir=record_dir)
    return batch_options(devices, **{**paths, **extra})


def quick_client(**kwargs):
    return WhatWattClient(backoff=0.01, **kwargs)


def run(options, check_mode=False):
    return df.run_fleet(options, check_mode=check_mode, client_factory=quick_client)


def mtimes(directory):
    return {p: os.stat(os.path.join(directory, p)).st_mtime_ns for p in sorted(os.listdir(directory))}
