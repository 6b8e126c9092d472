# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line: ``python -m whatwatt_emulator fleet --count N ...``."""

import argparse
import logging
import os
import sys

from .device import LICENSES, DeviceOptions
from .fleet import Fleet
import contextlib


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m whatwatt_emulator", description="WhatWatt Go device emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    fleet = sub.add_parser("fleet", help="serve N emulated devices in this process")
    fleet.add_argument("--count", type=int, default=1, help="number of devices (default 1)")
    fleet.add_argument("--first-ip", default="127.0.10.1", help="address of device 1 (loopback; default 127.0.10.1)")
    fleet.add_argument("--port", type=int, default=80, help="REST port of every device (default 80)")
    fleet.add_argument("--id-first-ip", help="derive the device ids from these addresses instead (same ids, new IPs)")
    fleet.add_argument("--state-dir", required=True, help="directory of per-device state files")
    fleet.add_argument("--inventory", help="write an Ansible YAML inventory (group meters) to this file")
    fleet.add_argument(
        "--first-number",
        type=int,
        default=1,
        help="inventory name number of the first device (several processes make one fleet)",
    )
    fleet.add_argument("--name-width", type=int, default=0,
                       help="digits of the inventory names (default: those of --count, at least 3)")  # fmt: skip
    fleet.add_argument("--pid-file", help="write the process id here")
    fleet.add_argument("--firmware", default="1.10.2", help="firmware version (<1.10: Basic auth, else Digest)")
    fleet.add_argument("--model", default="WW_Go_1.2")
    fleet.add_argument("--license", default="PLUS", type=str.upper, choices=LICENSES)
    fleet.add_argument("--password", help="turn Web UI protection on with this password (new devices only)")
    fleet.add_argument("--report-interval", type=int, default=30, help="initial services.report_interval")
    fleet.add_argument("--log", help="log file (default: stderr)")
    fleet.add_argument("--log-level", default="INFO")
    fleet.add_argument("--no-control", action="store_true", help="do not serve /_emulator/* (dry runs)")
    fleet.add_argument("--get-returns-certificates", action="store_true",
                       help="undocumented: GET /api/v1/mqtt/settings shows broker/client certificates")  # fmt: skip
    fleet.add_argument("--hide-key-len", action="store_true", help="undocumented: GET omits key_len/key_password_len")
    fleet.add_argument("--url-port-required", action="store_true",
                       help="undocumented: reject a URL without a port instead of defaulting to 1883/8883")  # fmt: skip
    fleet.add_argument("--nonce-lifetime", type=float, default=300.0, help="digest nonce lifetime before stale=true")
    fleet.add_argument("--reboot-seconds", type=float, default=3.0, help="time offline after /api/v1/reboot")
    fleet.add_argument("--utc-offset", type=float, default=0.0,
                       help="hours: the device reports its dates in this local time (default 0)")  # fmt: skip
    fleet.add_argument("--name-check-ignores-ip-sans", action="store_true",
                       help="undocumented: skip_cn_check false checks DNS names only (IP URL fails)")  # fmt: skip
    fleet.add_argument("--single-broker-certificate", action="store_true",
                       help="undocumented: broker.certificate keeps only its first certificate")  # fmt: skip
    fleet.add_argument("--max-body", type=int, default=8192, help="request body limit in bytes (default 8192)")
    fleet.add_argument("--connect-workers", type=int, default=8, help="threads for TCP/TLS connects")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        filename=args.log,
        level=getattr(logging, args.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    options = DeviceOptions(
        firmware=args.firmware,
        model=args.model,
        license=args.license,
        password=args.password,
        report_interval=args.report_interval,
        control=not args.no_control,
        get_returns_certificates=args.get_returns_certificates,
        show_key_len=not args.hide_key_len,
        url_port_required=args.url_port_required,
        nonce_lifetime=args.nonce_lifetime,
        reboot_seconds=args.reboot_seconds,
        utc_offset=args.utc_offset,
        name_check_ignores_ip_sans=args.name_check_ignores_ip_sans,
        single_broker_certificate=args.single_broker_certificate,
        max_body=args.max_body,
    )
    fleet = Fleet(
        count=args.count,
        first_ip=args.first_ip,
        port=args.port,
        state_dir=args.state_dir,
        inventory=args.inventory,
        options=options,
        connect_workers=args.connect_workers,
        id_first_ip=args.id_first_ip,
        first_number=args.first_number,
        name_width=args.name_width,
    )
    if args.pid_file:
        with open(args.pid_file, "w", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")

    def ready(fleet):
        print(
            f"ready: {len(fleet.devices)} devices on {fleet.ips[0]}..{fleet.ips[-1]} port {fleet.port}",
            flush=True,
        )

    try:
        fleet.run(on_ready=ready)
    except OSError as err:
        print(f"whatwatt_emulator: {err}", file=sys.stderr)
        return 1
    finally:
        if args.pid_file:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(args.pid_file)
    print("stopped", flush=True)
    return 0
