# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""``python -m whatwatt_emulator``: see docs/emulator.md."""

import sys

from .cli import main

sys.exit(main())
