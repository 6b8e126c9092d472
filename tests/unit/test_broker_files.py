"""module_utils/broker_files.py: the mosquitto_files module's compare -> stage -> validate -> promote, on tmp dirs.

Owner and group are root here (the tests run as root on the test machine, as the module does on a broker host).
"""

import functools
import os
import stat
import subprocess
import sys

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import broker_files
from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.broker_files import BrokerFilesError


def run_local(argv):
    """What AnsibleModule.run_command returns, without a module."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


apply = functools.partial(broker_files.apply, run=run_local)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="sets file ownership: runs as root, as on a broker host")


def files(conf="listener 8883\n", crt="CERT\n", key="KEY\n", crl_effect="restart"):
    common = dict(owner="root", group="root")
    return [
        dict(path="mosquitto.conf", content=conf, mode="0640", effect="restart", secret=False, **common),
        dict(path="acl", content="user a\n", mode="0640", effect="reload", secret=False, **common),
        dict(path="certs/server.crt", content=crt, mode="0644", effect="reload", secret=False, **common),
        dict(path="certs/crl.pem", content="CRL\n", mode="0644", effect=crl_effect, secret=False, **common),
        dict(path="certs/server.key", content=key, mode="0640", effect="reload", secret=True, **common),
    ]


@pytest.fixture
def dirs(tmp_path):
    live, staging = tmp_path / "live", tmp_path / "live" / ".staging"
    directories = [dict(path=str(p), owner="root", group="root", mode="0750")
                   for p in (live / "certs", staging, staging / "certs")]  # fmt: skip
    return str(live), str(staging), directories


class Validator:
    """A validation command that records what it saw in the staging directory and exits as told."""

    def __init__(self, tmp_path, staging, rc=0):
        self.log = tmp_path / "validated.log"
        script = (
            "import os, sys; staged = sys.argv[2]"
            "; crt = open(os.path.join(staged, 'certs/server.crt')).read().strip()"
            "; open(sys.argv[1], 'a').write(crt + '|' + str(sorted(os.listdir(staged))) + '\\n')"
            "; print('checked'); sys.exit(int(sys.argv[3]))"
        )
        self.argv = [sys.executable, "-c", script, str(self.log), staging, str(rc)]

    @property
    def runs(self):
        return self.log.read_text().splitlines() if self.log.exists() else []


def mtimes(root):
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = os.stat(path).st_mtime_ns
    return out


def test_first_run_stages_validates_then_promotes_everything(tmp_path, dirs):
    live, staging, directories = dirs
    check = Validator(tmp_path, staging)
    result = apply(live, staging, files(), directories, check.argv)
    assert result["changed"] and result["validated"] and result["effect"] == "restart"
    assert sorted(result["changed_files"]) == sorted(f["path"] for f in files())
    assert check.runs == ["CERT|['acl', 'certs', 'mosquitto.conf']"]  # the whole set was staged before it ran
    for entry in files():
        for top in (live, staging):
            path = os.path.join(top, entry["path"])
            with open(path) as handle:
                assert handle.read() == entry["content"]
            assert stat.S_IMODE(os.stat(path).st_mode) == int(entry["mode"], 8), path
    assert stat.S_IMODE(os.stat(os.path.join(live, "certs")).st_mode) == 0o750


def test_unchanged_set_writes_nothing_and_validates_nothing(tmp_path, dirs):
    live, staging, directories = dirs
    check = Validator(tmp_path, staging)
    apply(live, staging, files(), directories, check.argv)
    before = mtimes(live)
    result = apply(live, staging, files(), directories, check.argv)
    assert result == dict(changed=False, changed_files=[], changed_directories=[], effect="none", validated=False,
                          diff=[])  # fmt: skip
    assert mtimes(live) == before
    assert len(check.runs) == 1


def test_a_new_server_certificate_is_a_reload_and_only_it_is_promoted(tmp_path, dirs):
    live, staging, directories = dirs
    check = Validator(tmp_path, staging)
    apply(live, staging, files(), directories, check.argv)
    before = mtimes(live)
    result = apply(live, staging, files(crt="NEW\n"), directories, check.argv)
    assert result["changed_files"] == ["certs/server.crt"] and result["effect"] == "reload"
    assert check.runs[-1].startswith("NEW|")  # validated with the new certificate staged
    after = mtimes(live)
    assert [p for p in after if after[p] != before.get(p) and not p.startswith(".staging")] == ["certs/server.crt"]


def test_the_crl_effect_is_the_one_asked_for(tmp_path, dirs):
    live, staging, directories = dirs
    apply(live, staging, files(), directories, None)
    reload = files(crl_effect="reload")
    reload[3]["content"] = "CRL2\n"
    assert apply(live, staging, reload, directories, None)["effect"] == "reload"
    restart = files(crl_effect="restart")
    restart[3]["content"] = "CRL3\n"
    assert apply(live, staging, restart, directories, None)["effect"] == "restart"


def test_a_refused_set_changes_nothing_live(tmp_path, dirs):
    live, staging, directories = dirs
    apply(live, staging, files(), directories, Validator(tmp_path, staging).argv)
    before = {p: open(os.path.join(live, p)).read() for p in ("mosquitto.conf", "certs/server.crt")}  # noqa: SIM115
    with pytest.raises(BrokerFilesError, match="refused, nothing live was changed:\nchecked"):
        apply(live, staging, files(conf="listener 1\n", crt="BAD\n"), directories, Validator(tmp_path, staging, 1).argv)
    assert {p: open(os.path.join(live, p)).read() for p in before} == before  # noqa: SIM115


def test_check_mode_reports_and_writes_nothing_and_masks_the_key(tmp_path, dirs):
    live, staging, directories = dirs
    check = Validator(tmp_path, staging)
    result = apply(live, staging, files(), directories, check.argv, check_mode=True)
    assert result["changed"] and result["effect"] == "restart" and not result["validated"]
    assert not os.path.exists(live) and check.runs == []
    key_diff = next(d for d in result["diff"] if d["after_header"] == "certs/server.key")
    assert key_diff["after"] == "(secret: changed)\n" and "KEY" not in str(result)


def test_a_loosened_key_mode_is_corrected_in_place_without_validation(tmp_path, dirs):
    live, staging, directories = dirs
    check = Validator(tmp_path, staging)
    apply(live, staging, files(), directories, check.argv)
    key = os.path.join(live, "certs", "server.key")
    os.chmod(key, 0o644)
    result = apply(live, staging, files(), directories, check.argv)
    assert result["changed_files"] == ["certs/server.key"] and result["effect"] == "reload"
    assert not result["validated"] and result["diff"] == [] and len(check.runs) == 1
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o640


def test_an_unknown_group_is_named(tmp_path, dirs):
    live, staging, directories = dirs
    bad = files()
    bad[0]["group"] = "no-such-group-here"
    with pytest.raises(BrokerFilesError, match="group 'no-such-group-here' does not exist on the broker host"):
        apply(live, staging, bad, directories, None)


def test_effect_of_takes_the_strongest():
    entry = {"effect": "reload"}
    assert broker_files.effect_of([]) == "none"
    assert broker_files.effect_of([(entry, True, False)]) == "reload"
    assert broker_files.effect_of([(entry, True, False), ({"effect": "restart"}, True, False)]) == "restart"


def test_a_file_outside_the_set_is_written_in_place_first_and_never_staged(tmp_path, dirs):
    live, staging, directories = dirs
    check = Validator(tmp_path, staging)
    helper = tmp_path / "lib" / "helper.py"
    helper.parent.mkdir()
    outside = dict(path=str(helper), content="v1\n", owner="root", group="root", mode="0644", effect="none",
                   secret=False)  # fmt: skip
    apply(live, staging, [*files(), outside], directories, check.argv)
    assert helper.read_text() == "v1\n" and not os.path.exists(os.path.join(staging, str(helper).lstrip("/")))
    result = apply(live, staging, [*files(), dict(outside, content="v2\n")], directories, check.argv)
    assert result["changed_files"] == [str(helper)] and result["effect"] == "none"
    assert not result["validated"] and len(check.runs) == 1  # the set itself did not change
    assert helper.read_text() == "v2\n"


def test_a_validation_that_hangs_is_stopped_and_nothing_live_changes(tmp_path, dirs):
    live, staging, directories = dirs
    hang = [sys.executable, "-c", "import time; time.sleep(30)"]
    with pytest.raises(BrokerFilesError, match="did not end within 1 s"):
        apply(live, staging, files(), directories, hang, timeout=1)
    assert not os.path.exists(os.path.join(live, "mosquitto.conf"))


def _helper(tmp_path, name, lines="running", rc=0):
    """A stand-in for one of the helper's commands: appends its name to a log, prints ``lines``, exits ``rc``."""
    log = tmp_path / "helper.log"
    code = f"open({str(log)!r}, 'a').write({name!r} + '\\n'); print({lines!r}); raise SystemExit({rc})"
    return [sys.executable, "-c", code], log


def _commands(tmp_path):
    restart, log = _helper(tmp_path, "restart", "restarted")
    reload, _log = _helper(tmp_path, "reload", "reloaded")
    ensure, _log = _helper(tmp_path, "none", "started\nsnapshot")
    return dict(restart=restart, reload=reload, none=ensure), log


def test_the_command_for_the_effect_runs_last_in_the_same_run(tmp_path, dirs):
    live, staging, directories = dirs
    check = Validator(tmp_path, staging)
    commands, log = _commands(tmp_path)
    first = apply(live, staging, files(), directories, check.argv, commands=commands)
    assert first["effect"] == "restart" and first["applied"] == "restart" and first["applied_output"] == ["restarted"]
    second = apply(live, staging, files(crt="NEW\n"), directories, check.argv, commands=commands)
    assert second["effect"] == "reload" and second["applied"] == "reload"
    again = apply(live, staging, files(crt="NEW\n"), directories, check.argv, commands=commands)
    assert again["effect"] == "none" and again["applied_output"] == ["started", "snapshot"] and not again["changed"]
    assert log.read_text() == "restart\nreload\nnone\n"
    checked = apply(live, staging, files(crt="NEWER\n"), directories, check.argv, check_mode=True, commands=commands)
    assert checked["effect"] == "reload" and "applied" not in checked and log.read_text().count("\n") == 3


def test_effect_at_least_restarts_a_broker_whose_files_need_less(tmp_path, dirs):
    # after a package install or upgrade the new binary must serve, whatever the files need
    live, staging, directories = dirs
    check = Validator(tmp_path, staging)
    commands, log = _commands(tmp_path)
    apply(live, staging, files(), directories, check.argv)
    result = apply(live, staging, files(), directories, check.argv, commands=commands, effect_at_least="restart")
    assert not result["changed"] and result["effect"] == "restart" and result["applied"] == "restart"
    reload = apply(live, staging, files(crt="NEW\n"), directories, check.argv, commands=commands)
    assert reload["applied"] == "reload" and log.read_text() == "restart\nreload\n"


def test_a_command_that_fails_fails_with_its_output(tmp_path, dirs):
    live, staging, directories = dirs
    check = Validator(tmp_path, staging)
    apply(live, staging, files(), directories, check.argv)
    argv, _log = _helper(tmp_path, "none", "start failed and no other last-good config exists (broker DOWN)", rc=1)
    with pytest.raises(BrokerFilesError, match=r"failed \(exit 1\):\n.*broker DOWN"):
        apply(live, staging, files(), directories, check.argv, commands=dict(none=argv))
