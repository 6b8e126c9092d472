"""plugins/plugin_utils/broker_tls.py: verify.yml's mutual-TLS handshake with the broker, against a TLS server on
loopback that asks for a client certificate as the broker's listener does (no MQTT: only the handshake counts)."""

import socket
import ssl
import threading

import pytest

from harness.certs import issue, make_ca
from ansible_collections.whatwatt.secure_mqtt.plugins.plugin_utils.broker_tls import check, served_certificate


@pytest.fixture
def pki(tmp_path):
    ca = make_ca("Test Root CA").write(str(tmp_path), "ca")
    other = make_ca("Another CA").write(str(tmp_path), "other-ca")
    server = issue(ca, "mqtt-broker", server=True, sans=("127.0.0.1",)).write(str(tmp_path), "server")
    client = issue(ca, "whatwatt-verify").write(str(tmp_path), "client")
    return dict(ca=ca, other=other, server=server, client=client)


@pytest.fixture
def listener(pki):
    """A TLS listener on 127.0.0.1 that requires a client certificate of the CA; yields its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=pki["ca"].cert_path)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(pki["server"].cert_path, pki["server"].key_path)
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _addr = sock.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(5)
    sock.close()


def expected_of(issued, days_left=300):
    return dict(fingerprint_sha256=":".join(f"{b:02X}" for b in bytes.fromhex(issued.fingerprint)),
                serial=f"{issued.cert.serial_number:X}", days_left=days_left)  # fmt: skip


def test_the_served_certificate_is_the_expected_one(pki, listener):
    client = pki["client"]
    ok, served, msg = check("127.0.0.1", listener, pki["ca"].cert_path, client.cert_path, client.key_path,
                            expected_of(pki["server"]))  # fmt: skip
    assert ok, msg
    assert served["fingerprint_sha256"] == expected_of(pki["server"])["fingerprint_sha256"]
    assert msg.startswith(f"broker 127.0.0.1:{listener} serves serial ") and msg.endswith(", 300 days left")


def test_another_certificate_is_named_with_what_to_do(pki, listener):
    client = pki["client"]
    other = issue(pki["ca"], "mqtt-broker", server=True, sans=("127.0.0.1",))
    ok, served, msg = check("127.0.0.1", listener, pki["ca"].cert_path, client.cert_path, client.key_path,
                            expected_of(other))  # fmt: skip
    assert not ok and served is not None
    assert f"serves {served['fingerprint_sha256']}" in msg and msg.endswith(": run site.yml")


def test_a_chain_of_another_ca_fails_the_handshake(pki, listener):
    client = pki["client"]
    ok, served, msg = check("127.0.0.1", listener, pki["other"].cert_path, client.cert_path, client.key_path,
                            expected_of(pki["server"]))  # fmt: skip
    assert not ok and served is None
    # The listener sends its CA with its certificate (OpenSSL builds the chain from the listener's CA file, as
    # Mosquitto's does): a root the client does not trust.
    assert "TLS handshake failed: self-signed certificate in certificate chain" in msg, msg


def test_a_name_the_certificate_does_not_hold_fails_the_handshake(pki, listener):
    client = pki["client"]
    ok, _served, msg = check("localhost", listener, pki["ca"].cert_path, client.cert_path, client.key_path,
                             expected_of(pki["server"]))  # fmt: skip
    assert not ok
    assert "TLS handshake failed: Hostname mismatch" in msg, msg


def test_nothing_listening_and_missing_files_are_reported(pki, tmp_path):
    client = pki["client"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ok, _served, msg = check("127.0.0.1", port, pki["ca"].cert_path, client.cert_path, client.key_path, {})
    assert not ok and "TLS handshake failed" in msg and "refused" in msg.lower()
    with pytest.raises(Exception, match="cannot load the CA bundle or the client certificate"):
        served_certificate("127.0.0.1", port, str(tmp_path / "missing.crt"), client.cert_path, client.key_path)
