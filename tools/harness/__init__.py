"""The test harness the suites under tests/ and the benchmark (tools/bench) share; it imports nothing from tests/.

- ``ports``: free ports, waiting for a listener
- ``certs``: the one certificate builder (CA, server and client certificates, SEC1 keys)
- ``broker``: a real Mosquitto with a mutual-TLS listener (``MosquittoBroker``)
- ``mqtt``: the one subscriber (``Subscriber``)
- ``emulator``: the emulator as a process (``EmulatorProcess``) and its control client (``MeterControl``)
- ``playbook``: the one ansible-playbook runner and PLAY RECAP parser (``run``, ``Runner``, ``parse_recap``)
- ``fleet``: emulated meters + PKI directory + inventory + runner, the base of every playbook suite (``Fleet``)
- ``fake_device``: a small WhatWatt Go stand-in for the device-module unit tests (``FakeDevice``)

``tools`` is on pytest's pythonpath (pyproject.toml): ``from harness.certs import make_pki``. The pytest fixtures
built on it are in tests/conftest.py.
"""
