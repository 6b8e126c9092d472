"""The shared atomic writer: content, modes, mtimes, and nothing left behind."""

import os
import signal
import subprocess
import sys
import time

from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils import atomic


def test_writes_with_mode_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "key.pem"
    assert atomic.write_atomic(str(path), "secret", 0o600) is True
    assert path.read_text() == "secret"
    assert (path.stat().st_mode & 0o777) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["key.pem"]


def test_unchanged_content_is_not_rewritten_but_a_loose_mode_is_fixed(tmp_path):
    path = tmp_path / "f"
    atomic.write_atomic(str(path), b"x", 0o600)
    before = path.stat().st_mtime_ns
    time.sleep(0.01)
    assert atomic.write_atomic(str(path), b"x", 0o600) is False
    assert path.stat().st_mtime_ns == before
    os.chmod(path, 0o644)
    assert atomic.write_atomic(str(path), b"x", 0o600) is True
    assert (path.stat().st_mode & 0o777) == 0o600


def test_named_fallback_gives_the_same_result(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_write_unnamed", lambda *args: None)
    path = tmp_path / "f"
    assert atomic.write_atomic(str(path), b"data", 0o640) is True
    assert path.read_bytes() == b"data"
    assert (path.stat().st_mode & 0o777) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_sigkill_while_writing_leaves_only_whole_files(tmp_path):
    """A writer killed mid-loop leaves the target either old or new and no temporary file behind."""
    script = (
        "import sys\n"
        "from ansible_collections.whatwatt.secure_mqtt.plugins.module_utils.atomic import write_atomic\n"
        "i = 0\n"
        "while True:\n"
        "    i += 1\n"
        "    write_atomic(sys.argv[1], (str(i % 2) * 4_000_000).encode(), 0o600)\n"
    )
    target = tmp_path / "big"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", script, str(target)], env=env)
    try:
        deadline = time.monotonic() + 10
        while not target.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    content = target.read_bytes()
    assert len(content) == 4_000_000 and len(set(content)) == 1
    assert sorted(os.listdir(tmp_path)) == ["big"]
