# Copyright: (c) 2026, whatwatt.secure_mqtt contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server side of the device's HTTP authentication.

Firmware before 1.10: HTTP Basic. 1.10 and later: HTTP Digest, ``algorithm=MD5-sess``, qop ``auth`` or
``auth-int`` (RFC 2617 / RFC 7616), realm = the device's host name + ``.local``. The user name is empty; the
password is the Web UI password. Nonces are stateless (time stamp + HMAC) so an old but genuine nonce gets
``stale=true``.
"""

import base64
import hashlib
import hmac
import os
import re
import time

_PARAM_RE = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def firmware_tuple(version):
    out = []
    for part in str(version).split("."):
        digits = re.match(r"\d+", part)
        out.append(int(digits.group(0)) if digits else 0)
    return tuple(out)


def uses_digest(firmware):
    return firmware_tuple(firmware) >= (1, 10)


def _md5(text):
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()  # noqa: S324 - the device's protocol


def parse_digest(header):
    """Parameters of a ``Digest ...`` Authorization header (lower-case names)."""
    return {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _PARAM_RE.finditer(header)
    }


class Authenticator:
    """Checks requests for one device; ``check`` returns None when allowed or a challenge header."""

    def __init__(self, realm, nonce_lifetime=300.0):
        self.realm = realm
        self.nonce_lifetime = nonce_lifetime
        self._secret = os.urandom(16)
        self._opaque = base64.b64encode(os.urandom(12)).decode("ascii")
        self._nc_seen = {}

    # -- nonces --------------------------------------------------------------------------------
    def make_nonce(self, now=None):
        stamp = f"{int((time.time() if now is None else now) * 1000):x}"
        mac = hmac.new(self._secret, stamp.encode("ascii"), hashlib.sha256).hexdigest()[:24]
        return base64.b64encode((f"{stamp}:{mac}").encode("ascii")).decode("ascii")

    def nonce_state(self, nonce, now=None):
        """'ok', 'stale' or 'invalid'."""
        try:
            stamp, mac = base64.b64decode(nonce.encode("ascii"), validate=True).decode("ascii").split(":")
            issued = int(stamp, 16) / 1000.0
        except (ValueError, UnicodeDecodeError):
            return "invalid"
        good = hmac.new(self._secret, stamp.encode("ascii"), hashlib.sha256).hexdigest()[:24]
        if not hmac.compare_digest(good, mac):
            return "invalid"
        if (time.time() if now is None else now) - issued > self.nonce_lifetime:
            return "stale"
        return "ok"

    def challenge(self, digest, stale=False):
        if not digest:
            return f'Basic realm="{self.realm}"'
        header = (
            f'Digest realm="{self.realm}", qop="auth,auth-int", algorithm=MD5-sess, '
            f'nonce="{self.make_nonce()}", opaque="{self._opaque}"'
        )
        if stale:
            header += ", stale=true"
        return header

    # -- checks --------------------------------------------------------------------------------
    def check(self, method, header, password, digest, body=b""):
        """None when the request is authorised, else the WWW-Authenticate value to send with 401."""
        if not header:
            return self.challenge(digest)
        scheme, _sep, rest = header.partition(" ")
        if not digest:
            if scheme.lower() != "basic":
                return self.challenge(False)
            try:
                user, _sep, given = base64.b64decode(rest.strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return self.challenge(False)
            if user == "" and hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8")):
                return None
            return self.challenge(False)
        if scheme.lower() != "digest":
            return self.challenge(True)
        params = parse_digest(rest)
        needed = ("username", "realm", "nonce", "uri", "response")
        if any(name not in params for name in needed) or params["username"] != "" or params["realm"] != self.realm:
            return self.challenge(True)
        state = self.nonce_state(params["nonce"])
        if state == "invalid":
            return self.challenge(True)
        algorithm = params.get("algorithm", "MD5").upper()
        qop = params.get("qop")
        cnonce = params.get("cnonce", "")
        nc = params.get("nc", "")
        ha1 = _md5("{}:{}:{}".format(params["username"], self.realm, password))
        if algorithm == "MD5-SESS":
            ha1 = _md5("{}:{}:{}".format(ha1, params["nonce"], cnonce))
        elif algorithm != "MD5":
            return self.challenge(True)
        if qop == "auth-int":
            body_hash = hashlib.md5(body or b"", usedforsecurity=False).hexdigest()  # noqa: S324 - the protocol
            ha2 = _md5("{}:{}:{}".format(method, params["uri"], body_hash))
        else:
            ha2 = _md5("{}:{}".format(method, params["uri"]))
        if qop in ("auth", "auth-int"):
            expected = _md5(":".join((ha1, params["nonce"], nc, cnonce, qop, ha2)))
        elif qop is None:
            expected = _md5(":".join((ha1, params["nonce"], ha2)))
        else:
            return self.challenge(True)
        if not hmac.compare_digest(expected, params["response"].lower()):
            return self.challenge(True)
        if state == "stale":
            return self.challenge(True, stale=True)
        if qop in ("auth", "auth-int"):
            # Reject replays: the nonce count must grow for each nonce.
            try:
                count = int(nc, 16)
            except ValueError:
                return self.challenge(True)
            key = (params["nonce"], cnonce)
            if count <= self._nc_seen.get(key, 0):
                return self.challenge(True)
            if len(self._nc_seen) > 256:
                self._nc_seen.clear()
            self._nc_seen[key] = count
        return None
