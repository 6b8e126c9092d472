"""The world a playbook suite (or the benchmark) runs in: emulated meters in one process, their control client, a
PKI directory, an inventory and the playbook runner. Suites subclass ``Fleet`` and write their own inventory."""

import os

from .emulator import EmulatorProcess, MeterControl
from .playbook import Runner
from .ports import free_port


class Fleet(MeterControl):
    """Meters ``names`` from ``first_ip`` (one emulator process), files under ``base``.

    ``emulator``: keyword arguments of :class:`EmulatorProcess`; the rest: of :class:`Runner`.
    """

    def __init__(self, base, names, first_ip, inventory, api_port=None, emulator=None, **runner):
        super().__init__(names, first_ip, api_port or free_port(first_ip))
        self.base = str(base)
        self.pki_dir = os.path.join(self.base, "pki")
        self.emulator = EmulatorProcess(self.base, len(self.names), first_ip, self.api_port, **(emulator or {}))
        self.runner = Runner(inventory, self.base, **runner)

    def write_inventory(self):
        raise NotImplementedError

    def start(self):
        self.write_inventory()
        self.emulator.start()

    def stop(self):
        self.emulator.stop()

    def __enter__(self):
        """start(); a start that fails half-way is stopped again."""
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def playbook(self, playbook, *args, check=False, label=None):
        return self.runner.run(playbook, *args, check=check, label=label)

    def records(self):
        """{file: mtime} of the device records (``<pki_dir>/devices``)."""
        directory = os.path.join(self.pki_dir, "devices")
        if not os.path.isdir(directory):
            return {}
        return {entry: os.stat(os.path.join(directory, entry)).st_mtime_ns for entry in sorted(os.listdir(directory))}

    def mtimes(self, *subdirs):
        """{path relative to the PKI directory: mtime} of every file below ``subdirs`` of it."""
        out = {}
        for sub in subdirs:
            for dirpath, _dirs, files in os.walk(os.path.join(self.pki_dir, sub)):
                for entry in files:
                    path = os.path.join(dirpath, entry)
                    out[os.path.relpath(path, self.pki_dir)] = os.stat(path).st_mtime_ns
        return out
