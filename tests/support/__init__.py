"""Shared test helpers: certificates, a real mTLS Mosquitto, free ports, the emulator.

Use from any test module::

    from tests.support.certs import make_pki
    from tests.support.broker import MosquittoBroker
    from tests.support.fixtures import pki, mtls_broker, emulator_fleet   # pytest fixtures
"""
