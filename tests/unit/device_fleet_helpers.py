"""Helpers of the device_fleet unit tests: the meters' names and addresses, the batch options, one run."""

import os

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import device_fleet as df
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.whatwatt_client import WhatWattClient

IPS = [f"127.0.30.{150 + n}" for n in range(4)]
NAMES = [f"fleet-{n}" for n in range(4)]


def fleet_options(pki_dir, record_dir, devs, **extra):
    entries = [
        dict(name=name, host=dev.address, port=dev.port, topic=f"meters/{name}")
        for name, dev in zip(NAMES, devs, strict=False)
    ]
    options = dict(
        devices=entries,
        broker_host="127.0.30.199",
        broker_port=8883,
        scheme="mqtts",
        template='{"P_In":${1_7_0}}',
        skip_cn_check=False,
        force_certificates=False,
        report_interval=None,
        password="",
        ca_path=str(pki_dir / "ca-bundle.crt"),
        certs_dir=str(pki_dir / "clients"),
        record_dir=str(record_dir),
        timeout=5,
        retries=1,
        verify="none",
        verify_timeout=5,
        monitor_cert_path=None,
        monitor_key_path=None,
        monitor_client_id=None,
        rollback=True,
        drift="change",
        workers=4,
    )
    options.update(extra)
    return options


def quick_client(**kwargs):
    return WhatWattClient(backoff=0.01, **kwargs)


def run(options, check_mode=False):
    return df.run_fleet(options, check_mode=check_mode, client_factory=quick_client)


def mtimes(directory):
    return {p: os.stat(os.path.join(directory, p)).st_mtime_ns for p in sorted(os.listdir(directory))}
