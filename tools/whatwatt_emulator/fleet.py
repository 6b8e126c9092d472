# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Many emulated devices in one process, on one asyncio event loop."""

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import signal
import threading

from .addressing import device_id_for_ip, ip_range
from .device import Device, DeviceOptions
from .persist import ensure_dir, write_atomic

LOG = logging.getLogger("whatwatt_emulator.fleet")


class Fleet:
    """``count`` devices on consecutive loopback addresses, sharing ``port``.

    ``start()`` runs the event loop in a background thread (for tests) and returns once every
    device listens; ``run()`` runs it in the calling thread until SIGTERM/SIGINT (for the CLI).
    Extra keyword arguments are :class:`DeviceOptions` fields.
    """

    def __init__(self, count=1, first_ip="127.0.10.1", port=80, state_dir="emulator-state", inventory=None,
                 options=None, connect_workers=8, id_first_ip=None, first_number=1, name_width=0,
                 **option_kwargs):  # fmt: skip
        self.count = count
        self.first_number, self.name_width = first_number, name_width
        self.ips = ip_range(first_ip, count)
        # Identities follow the addresses unless told otherwise: id_first_ip moves a fleet to new addresses
        # while each meter keeps its id (a meter that got a new DHCP lease).
        self.id_ips = ip_range(id_first_ip, count) if id_first_ip else self.ips
        self.port = port
        self.state_dir = os.path.abspath(str(state_dir))
        self.inventory = inventory
        self.options = dataclasses.replace(options or DeviceOptions(), **option_kwargs)
        self.connect_workers = connect_workers
        self.devices = []
        self.loop = None
        self._thread = None
        self._stopping = None
        self._ready = threading.Event()
        self._error = None
        self._executor = None

    # -- in-process use (tests) ------------------------------------------------------------------
    def start(self, timeout=60.0):
        """Start in a background thread; return once every device listens."""
        self._thread = threading.Thread(target=self._thread_main, name="whatwatt-emulator", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RuntimeError(f"emulator fleet did not start within {timeout}s")
        if self._error is not None:
            self._thread.join(10)
            raise self._error
        return self

    def stop(self, timeout=30.0):
        """Stop cleanly (MQTT DISCONNECT, state saved) and wait for the loop thread."""
        if self.loop is not None and self._stopping is not None and self._thread is not None:
            self.loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(timeout)
        self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def call(self, func, *args, timeout=30.0):
        """Run ``func(*args)`` on the loop thread (the safe way to touch devices) and return its result."""

        async def runner():
            result = func(*args)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(runner(), self.loop).result(timeout)

    def _thread_main(self):
        try:
            asyncio.run(self._main())
        except BaseException as err:  # noqa: BLE001 - reported to start()
            self._error = err
            self._ready.set()

    # -- CLI use ---------------------------------------------------------------------------------
    def run(self, on_ready=None):
        """Run in this thread until SIGTERM or SIGINT."""
        asyncio.run(self._main(on_ready=on_ready, signals=True))

    # -- the loop --------------------------------------------------------------------------------
    async def _main(self, on_ready=None, signals=False):
        self.loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        if signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.loop.add_signal_handler(sig, self._stopping.set)
        ensure_dir(self.state_dir)
        self._executor = concurrent.futures.ThreadPoolExecutor(self.connect_workers, thread_name_prefix="mqtt-connect")
        loop_thread = threading.get_ident()
        self.devices = []
        for index, ip in enumerate(self.ips):
            device = Device(index, ip, self.port, self.state_dir, self.options, self.loop, self._executor,
                            device_id=device_id_for_ip(self.id_ips[index]))  # fmt: skip
            device.loop_thread = loop_thread
            self.devices.append(device)
        try:
            await asyncio.gather(*(device.start() for device in self.devices))
        except BaseException:
            await self._shutdown()
            raise
        if self.inventory:
            self.write_inventory(self.inventory)
        misc = asyncio.ensure_future(self._misc())
        LOG.info("%d devices ready on %s..%s port %d", len(self.devices), self.ips[0], self.ips[-1], self.port)
        self._ready.set()
        if on_ready is not None:
            on_ready(self)
        try:
            await self._stopping.wait()
        finally:
            misc.cancel()
            await self._shutdown()

    async def _misc(self):
        while True:
            await asyncio.sleep(1.0)
            for device in self.devices:
                try:
                    device.mqtt_link.misc()
                except Exception:  # one broken client must not stop the others' keepalives
                    LOG.exception("%s: keepalive failed", device.hostname)

    async def _shutdown(self):
        LOG.info("stopping %d devices", len(self.devices))
        await asyncio.gather(*(device.stop() for device in self.devices), return_exceptions=True)
        await asyncio.sleep(0.05)
        self._executor.shutdown(wait=True, cancel_futures=True)

    # -- inventory -------------------------------------------------------------------------------
    def inventory_text(self):
        width = self.name_width or max(3, len(str(self.count)))
        lines = [
            f"# Written by whatwatt_emulator: {self.count} emulated WhatWatt Go meters.",
            "all:",
            "  children:",
            "    meters:",
            "      vars:",
            "        ansible_connection: local",
        ]
        if self.options.password is not None:
            lines.append(f"        whatwatt_password: {_yaml_str(self.options.password)}")
        lines.append("      hosts:")
        for number, ip in enumerate(self.ips, start=self.first_number):
            name = f"whatwatt-{number:0{width}d}"
            lines += [
                f"        {name}:",
                f"          ansible_host: {ip}",
                f"          whatwatt_api_port: {self.port}",
                f"          whatwatt_client_id: {name}",
            ]
        return "\n".join(lines) + "\n"

    def write_inventory(self, path):
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        write_atomic(path, self.inventory_text(), mode=0o600 if self.options.password is not None else 0o644)


def _yaml_str(value):
    return "'" + str(value).replace("'", "''") + "'"
