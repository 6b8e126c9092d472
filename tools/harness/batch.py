"""The options of one device_fleet batch (``device_fleet.run_fleet``) as the action plugin passes them: the test
defaults (one retry, 5 s timeouts, no verification), every key present, ``extra`` on top."""


def batch_options(devices, ca_path, certs_dir, record_dir, **extra):
    """``devices``: (name, host, port) triples; each meter publishes to ``meters/<name>``."""
    options = dict(
        devices=[dict(name=name, host=host, port=port, topic=f"meters/{name}") for name, host, port in devices],
        broker_host="127.0.30.199",
        broker_port=8883,
        scheme="mqtts",
        template='{"P_In":${1_7_0}}',
        skip_cn_check=False,
        force_certificates=False,
        report_interval=None,
        password="",
        ca_path=str(ca_path),
        certs_dir=str(certs_dir),
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
