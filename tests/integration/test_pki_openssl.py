"""The pki role/module through real ``ansible-playbook`` runs, checked with the real ``openssl`` CLI
and a real Mosquitto mutual-TLS listener.

Results are read from the ``tree`` callback (the role's last task publishes the module result as a
fact); changes are counted from the PLAY RECAP; "rewrites nothing" is checked with file mtimes.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from harness import playbook
from harness.broker import MosquittoBroker
from harness.playbook import ansible_env

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
BROKER_IP = "127.0.61.1"  # loopback address of the PKI tests

PLAYBOOK = """\
- name: Fleet PKI
  hosts: localhost
  gather_facts: false
  roles:
    - role: whatwatt.secure_mqtt.pki
"""


def inventory(count, extra_meter_vars=None):
    meters = {}
    for i in range(1, count + 1):
        host = f"meter{i:04d}"
        meters[host] = {"whatwatt_client_id": f"whatwatt-{i:03d}", **(extra_meter_vars or {})}
    return {
        "all": {
            "hosts": {"localhost": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}},
            "children": {
                "meters": {"hosts": meters},
                "brokers": {"hosts": {"broker1": {"ansible_host": BROKER_IP}}},
            },
            "vars": {"whatwatt_broker_host": "mqtt.example.test"},
        }
    }


class Runner:
    """ansible-playbook in a scratch directory; each run gets its own extra vars."""

    def __init__(self, workdir, count):
        self.workdir = str(workdir)
        self.pki = os.path.join(self.workdir, "pki")
        os.makedirs(self.workdir, exist_ok=True)
        with open(os.path.join(self.workdir, "inventory.json"), "w", encoding="utf-8") as handle:
            json.dump(inventory(count), handle)
        with open(os.path.join(self.workdir, "site.yml"), "w", encoding="utf-8") as handle:
            handle.write(PLAYBOOK)

    def run(self, check=False, diff=False, extra_args=(), **extra_vars):
        tree = os.path.join(self.workdir, "tree")
        shutil.rmtree(tree, ignore_errors=True)
        extra = {"whatwatt_pki_dir": self.pki, **extra_vars}
        vars_path = os.path.join(self.workdir, "extra.json")
        with open(vars_path, "w", encoding="utf-8") as handle:
            json.dump(extra, handle)
        env = ansible_env(ANSIBLE_CALLBACKS_ENABLED="ansible.builtin.tree", ANSIBLE_CALLBACK_TREE_DIR=tree)
        cmd = [ANSIBLE_PLAYBOOK, "-i", "inventory.json", "site.yml", "-e", "@extra.json", *extra_args]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        proc = playbook.run(cmd, env=env, cwd=self.workdir, timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        with open(os.path.join(tree, "localhost"), encoding="utf-8") as handle:
            last = json.load(handle)
        return Run(proc.recap["localhost"]["changed"], last["ansible_facts"]["whatwatt_pki"], proc.stdout, proc.elapsed)


class Run:
    def __init__(self, changed, result, stdout, elapsed):
        self.changed, self.result, self.stdout, self.elapsed = changed, result, stdout, elapsed


def mtimes(root):
    found = {}
    for folder, _dirs, names in os.walk(root):
        for name in names:
            found[os.path.join(folder, name)] = os.stat(os.path.join(folder, name)).st_mtime_ns
    return found


def openssl(*args, check=True):
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=120, check=False)
    if check:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def leaf_files(pki):
    return [
        os.path.join(pki, folder, name)
        for folder in ("servers", "clients")
        for name in sorted(os.listdir(os.path.join(pki, folder)))
        if name.endswith(".crt")
    ]


def count_certs(path):
    with open(path, encoding="ascii") as handle:
        return handle.read().count("BEGIN CERTIFICATE")


def verify(ca_file, certs, crl=None):
    """openssl verify once for many certificates; returns {path: ok}."""
    args = ["verify", "-CAfile", ca_file]
    if crl:
        args += ["-CRLfile", crl, "-crl_check"]
    proc = openssl(*args, *certs, check=False)
    return {path: f"{path}: OK" in proc.stdout for path in certs}


@pytest.fixture(scope="module")
def fleet100(tmp_path_factory):
    """100 meters (+ the three reader identities) and one broker, walked through check -> run -> run -> check."""
    runner = Runner(tmp_path_factory.mktemp("pki100"), 100)
    runs = {"check1": runner.run(check=True, diff=True)}
    runs["run1"] = runner.run(diff=True)
    first_mtimes = mtimes(runner.pki)
    runs["run2"] = runner.run()
    runs["second_mtimes"] = mtimes(runner.pki)
    runs["check2"] = runner.run(check=True)
    runs["first_mtimes"] = first_mtimes
    return runner, runs


def test_check_run_run_check(fleet100):
    runner, runs = fleet100
    for name in ("check1", "run1", "run2", "check2"):
        print(f"{name}: changed={runs[name].changed} {runs[name].elapsed:.2f}s")
    check1 = runs["check1"]
    assert check1.changed == 1
    assert len(check1.result["issued"]) == 104  # 100 meters, 3 reader identities, 1 broker
    assert check1.result["clients"]["whatwatt-050"]["reasons"] == ["missing"]
    assert check1.result["clients"]["whatwatt-050"]["serial"] is None
    assert "clients/whatwatt-050: (absent)" in check1.stdout  # --diff
    assert runs["run1"].changed == 1
    result = runs["run1"].result
    readers = {"whatwatt-monitor", "whatwatt-verify", "whatwatt-watch"}
    assert set(result["clients"]) == {f"whatwatt-{i:03d}" for i in range(1, 101)} | readers
    assert sorted(result["issued"])[-1] == "servers/broker1"
    assert "PRIVATE KEY" not in runs["run1"].stdout and "PRIVATE KEY" not in json.dumps(result)
    assert runs["run2"].changed == 0 and runs["run2"].result["issued"] == []
    assert runs["second_mtimes"] == runs["first_mtimes"]
    assert runs["check2"].changed == 0
    assert mtimes(runner.pki) == runs["first_mtimes"]


def test_openssl_accepts_every_file(fleet100):
    runner, runs = fleet100
    pki = runner.pki
    ca, crl = os.path.join(pki, "ca.crt"), os.path.join(pki, "crl.pem")
    leaves = leaf_files(pki)
    assert len(leaves) == 104
    assert all(verify(ca, leaves, crl).values())

    ca_text = openssl("x509", "-in", ca, "-noout", "-text").stdout
    assert "CA:TRUE" in ca_text and "Certificate Sign, CRL Sign" in ca_text
    assert "ecdsa-with-SHA256" in ca_text and "prime256v1" in ca_text
    assert "Subject: CN = WhatWatt Secure MQTT Root CA" in ca_text

    server = openssl("x509", "-in", os.path.join(pki, "servers", "broker1.crt"), "-noout", "-text").stdout
    assert "DNS:broker1" in server and "DNS:mqtt.example.test" in server and f"IP Address:{BROKER_IP}" in server
    assert "TLS Web Server Authentication" in server
    client = openssl("x509", "-in", os.path.join(pki, "clients", "whatwatt-007.crt"), "-noout", "-text").stdout
    assert "Subject: CN = whatwatt-007" in client and "TLS Web Client Authentication" in client
    assert "Subject Alternative Name" not in client

    crl_check = openssl("crl", "-in", crl, "-CAfile", ca, "-noout")
    assert "verify OK" in crl_check.stdout + crl_check.stderr

    key_path = os.path.join(pki, "clients", "whatwatt-007.key")
    with open(key_path, encoding="ascii") as handle:
        assert handle.read().startswith("-----BEGIN EC PRIVATE KEY-----")
    openssl("ec", "-in", key_path, "-check", "-noout")
    from_key = openssl("ec", "-in", key_path, "-pubout").stdout
    from_cert = openssl("x509", "-in", os.path.join(pki, "clients", "whatwatt-007.crt"), "-noout", "-pubkey").stdout
    assert from_key == from_cert

    result = runs["run1"].result["clients"]["whatwatt-007"]
    serial = openssl("x509", "-in", result["cert_path"], "-noout", "-serial").stdout.strip()
    assert serial == f"serial={result['serial']}"
    fingerprint = openssl("x509", "-in", result["cert_path"], "-noout", "-fingerprint", "-sha256").stdout
    assert fingerprint.strip().endswith(result["fingerprint_sha256"])

    assert os.stat(pki).st_mode & 0o777 == 0o700
    for folder, _dirs, names in os.walk(pki):
        assert os.stat(folder).st_mode & 0o777 == 0o700
        for name in names:
            mode = os.stat(os.path.join(folder, name)).st_mode & 0o777
            if name.endswith(".key") or name == "state.json":
                assert mode == 0o600, name
            else:
                assert mode & 0o022 == 0, name


def test_moving_renew_before_renews_exactly_those_inside(tmp_path):
    runner = Runner(tmp_path, 0)
    clients = [{"client_id": f"short-{i}", "valid_days": 60} for i in range(5)] + [f"long-{i}" for i in range(15)]
    runner.run(whatwatt_pki_clients=clients)
    assert runner.run(whatwatt_pki_clients=clients, whatwatt_pki_renew_before="45d").changed == 0
    before = mtimes(runner.pki)
    renewed = runner.run(whatwatt_pki_clients=clients, whatwatt_pki_renew_before="90d")
    assert renewed.changed == 1
    assert renewed.result["issued"] == [f"clients/short-{i}" for i in range(5)]
    assert {tuple(renewed.result["clients"][f"short-{i}"]["reasons"]) for i in range(5)} == {("expiring",)}
    after = mtimes(runner.pki)
    rewritten = sorted(os.path.relpath(p, runner.pki) for p in after if after[p] != before.get(p))
    assert rewritten == sorted(f"clients/short-{i}.{ext}" for i in range(5) for ext in ("crt", "key"))


def mqtt_pub(pki, client_id, port, host=BROKER_IP):
    return subprocess.run(
        ["mosquitto_pub", "-h", host, "-p", str(port), "--cafile", os.path.join(pki, "ca-bundle.crt"),
         "--cert", os.path.join(pki, "clients", f"{client_id}.crt"),
         "--key", os.path.join(pki, "clients", f"{client_id}.key"),
         "-i", client_id, "-t", f"meters/{client_id}", "-m", "1", "-q", "1"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_revocation_end_to_end(tmp_path):
    runner = Runner(tmp_path / "run", 5)
    first = runner.run()
    pki = runner.pki
    revoked_cert = os.path.join(pki, "clients", "whatwatt-002.crt")
    serial = first.result["clients"]["whatwatt-002"]["serial"]
    run = runner.run(whatwatt_pki_revoke=["whatwatt-002"])
    assert run.changed == 1
    assert run.result["clients"]["whatwatt-002"]["reasons"] == ["revoked"]
    assert run.result["crl"]["revoked"] == [{"name": "whatwatt-002", "kind": "client", "serial": serial}]
    crl_text = openssl("crl", "-in", os.path.join(pki, "crl.pem"), "-noout", "-text").stdout
    assert f"Serial Number: {serial}" in crl_text
    ok = verify(os.path.join(pki, "ca.crt"), leaf_files(pki), os.path.join(pki, "crl.pem"))
    assert [os.path.basename(p) for p, good in ok.items() if not good] == ["whatwatt-002.crt"]
    refused = openssl(
        "verify", "-CAfile", os.path.join(pki, "ca.crt"), "-CRLfile", os.path.join(pki, "crl.pem"), "-crl_check",
        revoked_cert, check=False,
    )  # fmt: skip
    assert "certificate revoked" in refused.stdout + refused.stderr
    # the revocation sticks: dropped from whatwatt_pki_revoke, the meter is still in the inventory
    before = mtimes(pki)
    again = runner.run()
    assert again.changed == 0 and again.result["clients"]["whatwatt-002"]["reasons"] == ["revoked"]
    assert mtimes(pki) == before

    # a real broker with crlfile refuses the revoked device and accepts the others
    with MosquittoBroker(
        tmp_path / "broker",
        os.path.join(pki, "ca-bundle.crt"),
        os.path.join(pki, "servers", "broker1.crt"),
        os.path.join(pki, "servers", "broker1.key"),
        host=BROKER_IP,
        crlfile=os.path.join(pki, "crl.pem"),
    ) as broker:
        good = mqtt_pub(pki, "whatwatt-001", broker.port)
        assert good.returncode == 0, good.stderr
        bad = mqtt_pub(pki, "whatwatt-002", broker.port)
        assert bad.returncode != 0


def test_ca_rollover_end_to_end(tmp_path):
    runner = Runner(tmp_path / "run", 3)
    pki = runner.pki
    runner.run()
    bundle, ca = os.path.join(pki, "ca-bundle.crt"), os.path.join(pki, "ca.crt")
    old_leaf = os.path.join(tmp_path, "old-whatwatt-001.crt")
    shutil.copy(os.path.join(pki, "clients", "whatwatt-001.crt"), old_leaf)
    shutil.copy(ca, os.path.join(tmp_path, "old-ca.crt"))

    intro = runner.run(whatwatt_pki_ca_rollover="introduce")
    assert intro.changed == 1 and intro.result["issued"] == []
    assert count_certs(bundle) == 2
    assert runner.run(whatwatt_pki_ca_rollover="introduce").changed == 0
    assert all(verify(bundle, leaf_files(pki), os.path.join(pki, "crl.pem")).values())

    act = runner.run(whatwatt_pki_ca_rollover="activate")
    assert act.changed == 1 and len(act.result["issued"]) == 7  # 3 meters, 3 readers, broker
    assert act.result["ca"]["rollover_phase"] == "activated"
    assert runner.run(whatwatt_pki_ca_rollover="activate").changed == 0
    assert runner.run().changed == 0
    # new leaves verify against the new CA alone; a device still holding its old leaf keeps working
    assert all(verify(ca, leaf_files(pki), os.path.join(pki, "crl.pem")).values())
    assert verify(bundle, [old_leaf], os.path.join(pki, "crl.pem")) == {old_leaf: True}
    assert verify(ca, [old_leaf]) == {old_leaf: False}

    ret = runner.run(whatwatt_pki_ca_rollover="retire")
    assert ret.changed == 1 and ret.result["issued"] == []
    assert runner.run(whatwatt_pki_ca_rollover="retire").changed == 0
    assert count_certs(bundle) == 1
    assert not os.path.exists(os.path.join(pki, "ca-old.key"))
    assert verify(bundle, [old_leaf]) == {old_leaf: False}
    assert all(verify(bundle, leaf_files(pki), os.path.join(pki, "crl.pem")).values())


PASSPHRASE = "correct horse"  # noqa: S105 - the test CA key's passphrase, looked for in the output


def encrypted_ca(tmp_path, passphrase=PASSPHRASE):
    """A corporate CA made with openssl, its key encrypted with ``passphrase``: (key path, certificate path)."""
    ca_key, ca_crt = tmp_path / "corp.key", tmp_path / "corp.crt"
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(tmp_path / "plain.key"))
    openssl("ec", "-in", str(tmp_path / "plain.key"), "-aes256", "-passout", f"pass:{passphrase}", "-out", str(ca_key))
    openssl(
        "req", "-x509", "-new", "-key", str(ca_key), "-passin", f"pass:{passphrase}", "-subj", "/O=Corp/CN=Corp Root",
        "-days", "3650", "-sha256", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", str(ca_crt),
    )  # fmt: skip
    return ca_key, ca_crt


@pytest.mark.parametrize("where", ["worker", "module"])
def test_on_the_controller_the_pki_runs_in_the_worker_elsewhere_as_a_module(tmp_path, where):
    # A local connection without become: the action plugin calls run_pki itself (no module, so no "invocation" in
    # the result). With become (here su from root to root) the module runs as on any other host. Same outcome, and
    # the CA key's passphrase is in neither output, at -vvv.
    runner = Runner(tmp_path / "run", 3)
    ca_key, ca_crt = encrypted_ca(tmp_path)
    args = ("-vvv", *(("-b", "--become-method", "ansible.builtin.su") if where == "module" else ()))
    byo = {
        "whatwatt_pki_ca_cert_src": str(ca_crt),
        "whatwatt_pki_ca_key_src": str(ca_key),
        "whatwatt_pki_ca_key_passphrase": "correct horse",
    }
    first = runner.run(extra_args=args, **byo)
    assert first.changed == 1 and first.result["ca"]["reasons"] == ["imported"]
    assert {"whatwatt-001", "whatwatt-002", "whatwatt-003"} <= set(first.result["clients"])  # and the readers
    assert all(leaf["changed"] and leaf["reasons"] == ["missing"] for leaf in first.result["clients"].values())
    assert ("AnsiballZ_pki.py" in first.stdout) == (where == "module"), first.stdout[-3000:]
    assert "correct horse" not in first.stdout
    assert all(verify(str(ca_crt), leaf_files(runner.pki), os.path.join(runner.pki, "crl.pem")).values())
    before = mtimes(runner.pki)
    again = runner.run(extra_args=args, **byo)
    assert again.changed == 0 and again.result["issued"] == []
    assert mtimes(runner.pki) == before
    assert "correct horse" not in again.stdout


def test_bring_your_own_ca_with_vaulted_passphrase(tmp_path):
    runner = Runner(tmp_path / "run", 2)
    ca_key, ca_crt = encrypted_ca(tmp_path)
    password_file = tmp_path / "vault-pass"
    password_file.write_text("vault-password\n")
    vault_vars = tmp_path / "run" / "vault.yml"
    vault_vars.write_text('whatwatt_pki_ca_key_passphrase: "correct horse"\n')
    subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-vault"), "encrypt", str(vault_vars),
         "--vault-password-file", str(password_file)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert "correct horse" not in vault_vars.read_text()
    args = ("-e", "@vault.yml", "--vault-password-file", str(password_file))
    byo = {"whatwatt_pki_ca_cert_src": str(ca_crt), "whatwatt_pki_ca_key_src": str(ca_key)}
    first = runner.run(extra_args=args, **byo)
    assert first.changed == 1 and first.result["ca"]["reasons"] == ["imported"]
    assert first.result["ca"]["subject"] == "CN=Corp Root,O=Corp"
    assert "correct horse" not in first.stdout
    assert all(verify(str(ca_crt), leaf_files(runner.pki), os.path.join(runner.pki, "crl.pem")).values())
    assert runner.run(extra_args=args, **byo).changed == 0
