"""Fixtures every suite may use (helpers: tools/harness).

- ``pki``: a CA, a server certificate for 127.0.0.1/localhost/127.0.20.1 and clients whatwatt-001..003, test-monitor.
- ``mtls_broker``: a factory ``mtls_broker(pki, host="127.0.20.1", acl=None)`` -> started MosquittoBroker,
  stopped at teardown.
- ``emulator_fleet``: a factory ``emulator_fleet(count=1, first_ip=..., port=None, **options)`` -> started
  in-process emulator Fleet (free port when none given), stopped at teardown.
"""

import pytest
from harness.broker import MosquittoBroker
from harness.certs import make_pki
from harness.ports import free_port


@pytest.fixture
def pki(tmp_path):
    return make_pki(
        str(tmp_path / "pki"),
        server_sans=("127.0.0.1", "localhost", "127.0.20.1"),
        clients=("whatwatt-001", "whatwatt-002", "whatwatt-003", "test-monitor"),
    )


@pytest.fixture
def mtls_broker(tmp_path):
    started = []

    def factory(pki, host="127.0.20.1", **kwargs):
        workdir = tmp_path / f"broker{len(started)}"
        broker = MosquittoBroker(
            workdir, pki.ca.cert_path, pki.server.cert_path, pki.server.key_path, host=host, **kwargs
        )
        started.append(broker)
        return broker.start()

    try:
        yield factory
    finally:
        for broker in started:
            broker.stop()


@pytest.fixture
def emulator_fleet(tmp_path):
    from whatwatt_emulator import Fleet

    started = []

    def factory(count=1, first_ip="127.0.20.10", port=None, **options):
        fleet = Fleet(
            count=count,
            first_ip=first_ip,
            port=port or free_port(first_ip),
            state_dir=tmp_path / f"emulator{len(started)}",
            **options,
        )
        started.append(fleet)
        return fleet.start()

    try:
        yield factory
    finally:
        for fleet in started:
            fleet.stop()
