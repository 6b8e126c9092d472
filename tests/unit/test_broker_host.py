"""module_utils/broker_host.py: what the mosquitto role reads of a broker host in one call (mosquitto_info), and
what apt has to do for the broker's packages (``install_plan``)."""

import pytest

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import broker_host as bh

BOOKWORM = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n' \
    "VERSION_CODENAME=bookworm\n"  # fmt: skip
SID = 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nNAME="Debian GNU/Linux"\nVERSION_CODENAME=trixie\nID=debian\n'
LISTFILES_21 = "/.\n/usr/lib/x86_64-linux-gnu/mosquitto\n/usr/lib/x86_64-linux-gnu/mosquitto/mosquitto_acl_file.so\n"
HELP_2021 = "mosquitto version 2.0.21\n\nmosquitto is an MQTT v5.0/v3.1.1/v3.1 broker.\n"


class Host:
    """A broker host as the module sees it: files, programs and their answers; records the commands run."""

    def __init__(self, os_release=BOOKWORM, dpkg="", help_text=HELP_2021, listfiles=LISTFILES_21, systemd=True,
                 programs=("dpkg-query", "mosquitto")):  # fmt: skip
        self.files = {"/etc/os-release": os_release}
        self.dpkg, self.help_text, self.listfiles, self.systemd = dpkg, help_text, listfiles, systemd
        self.programs, self.commands = programs, []

    def run(self, argv):
        self.commands.append(argv)
        if argv[1] == "--show":
            return (0 if self.dpkg else 1), self.dpkg, ""
        if argv[1] == "-h":
            return 3, self.help_text, ""
        return 0, self.listfiles, ""

    def inspect(self, packages=("mosquitto", "logrotate"), min_version="2.0.21", acl_plugin=""):
        return bh.inspect(self.run, self.files.get, lambda path: self.systemd, self.which, list(packages), min_version,
                          acl_plugin)  # fmt: skip

    def which(self, name):
        return f"/usr/bin/{name}" if name in self.programs else None


def dpkg(version, *extra):
    return f"mosquitto\tinstalled\t{version}\n" + "".join(f"{name}\tinstalled\t1\n" for name in extra)


def test_an_up_to_date_bookworm_broker_needs_nothing_and_no_file_list_before_2_1():
    host = Host(dpkg=dpkg("2.0.21-1~bpo12+1", "logrotate"))
    info = host.inspect()
    assert info == dict(
        os_release=dict(ID="debian", VERSION_ID="12", VERSION_CODENAME="bookworm"), debian_bookworm=True,
        install_plan=dict(state=None, missing=[], version="2.0.21"), version="2.0.21", acl_plugin="", systemd=True,
    )  # fmt: skip
    assert [argv[1] for argv in host.commands] == ["--show", "-h"]


def test_2_1_finds_its_acl_plugin_in_the_package_s_files_unless_given():
    host = Host(os_release=SID, dpkg=dpkg("2.1.2-3", "logrotate"), help_text="mosquitto version 2.1.2\n",
                systemd=False)  # fmt: skip
    info = host.inspect()
    assert info["acl_plugin"] == "/usr/lib/x86_64-linux-gnu/mosquitto/mosquitto_acl_file.so"
    assert info["debian_bookworm"] is False and info["systemd"] is False and info["version"] == "2.1.2"
    given = Host(os_release=SID, dpkg=dpkg("2.1.2-3", "logrotate"), help_text="mosquitto version 2.1.2\n")
    assert given.inspect(acl_plugin="/opt/acl.so")["acl_plugin"] == "/opt/acl.so"
    assert [argv[1] for argv in given.commands] == ["--show", "-h"]
    no_plugin = Host(dpkg=dpkg("2.1.2-3", "logrotate"), help_text="mosquitto version 2.1.2\n", listfiles="/.\n")
    assert no_plugin.inspect()["acl_plugin"] == ""


def test_a_host_without_mosquitto_says_what_apt_must_do_and_has_no_version():
    host = Host(dpkg="", programs=("dpkg-query",))
    info = host.inspect()
    assert info["install_plan"] == dict(state="present", missing=["mosquitto", "logrotate"], version=None)
    assert info["version"] is None and info["acl_plugin"] == ""
    old = Host(dpkg=dpkg("2.0.11-1.2+deb12u1", "logrotate"), help_text="mosquitto version 2.0.11\n")
    assert old.inspect()["install_plan"]["state"] == "latest"


def test_os_release_quotes_comments_and_the_fallback_file():
    assert bh.parse_os_release("# c\nID='debian'\nVERSION_ID=\"13\"\nbad line\n") == dict(ID="debian", VERSION_ID="13")
    assert not bh.is_debian_bookworm(dict(ID="debian", VERSION_ID="13"))
    assert not bh.is_debian_bookworm(dict(ID="ubuntu", VERSION_ID="12"))
    host = Host(dpkg=dpkg("2.0.21-1", "logrotate"))
    host.files = {"/usr/lib/os-release": BOOKWORM}
    assert host.inspect()["debian_bookworm"] is True


def test_no_dpkg_or_a_failing_one_is_named():
    with pytest.raises(bh.BrokerHostError, match="dpkg-query not found"):
        Host(programs=("mosquitto",)).inspect()
    host = Host()
    host.run = lambda argv: (2, "", "dpkg-query: error: database is locked")
    with pytest.raises(bh.BrokerHostError, match="rc 2.*database is locked"):
        host.inspect()


def test_help_version_reads_stdout_text_only_when_it_names_a_version():
    assert bh.help_version(HELP_2021) == "2.0.21"
    assert bh.help_version("Error: Unknown option '-h'.") is None


# -- install_plan: what apt has to do, from dpkg-query's output ----------------------------------------
PACKAGES = ["mosquitto", "logrotate"]


def dpkg_rows(*rows):
    return "".join(f"{name}\t{status}\t{version}\n" for name, status, version in rows)


def test_up_to_date_needs_no_apt_run():
    out = dpkg_rows(("mosquitto", "installed", "2.0.21-1~bpo12+1"), ("logrotate", "installed", "3.21.0-1"))
    assert bh.install_plan(out, PACKAGES, "2.0.21") == dict(state=None, missing=[], version="2.0.21")


def test_a_missing_package_is_installed():
    out = dpkg_rows(("mosquitto", "installed", "2.0.21-1"), ("logrotate", "config-files", "3.21.0-1"))
    assert bh.install_plan(out, PACKAGES, "2.0.21") == dict(state="present", missing=["logrotate"], version="2.0.21")
    assert bh.install_plan("", PACKAGES, "2.0.21") == dict(state="present", missing=PACKAGES, version=None)


def test_below_the_minimum_is_upgraded_in_place():
    out = dpkg_rows(("mosquitto", "installed", "2.0.21-1"), ("logrotate", "installed", "3.21.0-1"))
    assert bh.install_plan(out, PACKAGES, "2.1.0")["state"] == "latest"
    old = dpkg_rows(("mosquitto", "installed", "2.0.11-1.2+deb12u1"), ("logrotate", "installed", "3.21.0-1"))
    assert bh.install_plan(old, PACKAGES, "2.0.21")["state"] == "latest"  # Debian 12's own 2.0.11
    # numeric, not string, comparison: 2.0.9 < 2.0.21
    nine = dpkg_rows(("mosquitto", "installed", "2.0.9-1"), ("logrotate", "installed", "1"))
    assert bh.install_plan(nine, PACKAGES, "2.0.21")["state"] == "latest"
    epoch = dpkg_rows(("mosquitto", "installed", "1:2.1.2-3"), ("logrotate", "installed", "1"))
    assert bh.install_plan(epoch, PACKAGES, "2.1.0")["state"] is None


def test_upstream_version_drops_epoch_and_revision():
    assert bh.upstream_version("2.0.21-1~bpo12+1") == "2.0.21"
    assert bh.upstream_version("1:2.1.2-3") == "2.1.2"
    assert bh.upstream_version("") is None


def test_bad_arguments_are_named():
    with pytest.raises(bh.BrokerHostError, match="packages must be a non-empty list"):
        bh.install_plan("", [], "2.0.21")
    with pytest.raises(bh.BrokerHostError, match="'two' is not a version"):
        bh.install_plan("", PACKAGES, "two")
