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


def test_sigkill_while_writing_leaves_only_whole_files_and_the_next_write_clears_them(tmp_path):
    """A writer killed mid-loop leaves the target either old or new; the only thing it can leave beside it (killed
    in the microseconds between naming the finished file and the rename) is a whole copy under the target's own
    temporary name, and the next write of the target removes that."""
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
    left = sorted(set(os.listdir(tmp_path)) - {"big"})
    assert left in ([], [".big.tmp"]), left
    for name in left:
        copy = (tmp_path / name).read_bytes()
        assert len(copy) == 4_000_000 and len(set(copy)) == 1, "a leftover must be a whole copy"
        assert ((tmp_path / name).stat().st_mode & 0o777) == 0o600
    atomic.write_atomic(str(target), content, 0o600)  # the next run's write of the same target, unchanged
    assert sorted(os.listdir(tmp_path)) == ["big"]


def test_the_next_write_removes_a_killed_writers_copy_changed_or_not(tmp_path):
    target = tmp_path / "key.pem"
    atomic.write_atomic(str(target), b"old", 0o600)
    leftover = atomic.temp_name(str(target))
    assert leftover == str(tmp_path / ".key.pem.tmp")
    for data in (b"old", b"new"):
        with open(leftover, "wb") as handle:
            handle.write(b"new")
        atomic.write_atomic(str(target), data, 0o600)
        assert sorted(os.listdir(tmp_path)) == ["key.pem"] and target.read_bytes() == data


def test_a_writer_whose_temporary_name_was_taken_away_links_its_file_again(tmp_path, monkeypatch):
    """Another writer of the same target starting between this one's naming and rename removes the name (it takes
    it for a leftover): the rename then links the file again instead of failing or losing the content."""
    target = tmp_path / "f"
    real_replace, calls = os.replace, []

    def replace_after_someone_removed_the_name(src, dst):
        calls.append(src)
        if len(calls) == 1:
            os.unlink(src)
        return real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace_after_someone_removed_the_name)
    assert atomic.write_atomic(str(target), b"content", 0o600) is True
    assert target.read_bytes() == b"content" and len(calls) == 2
    assert sorted(os.listdir(tmp_path)) == ["f"]


def test_clear_leftovers_in_removes_only_hidden_tmp_files(tmp_path):
    for name in (".a.key.tmp", ".a.key.0123456789ab.tmp", "visible.tmp", ".hidden", "a.key"):
        (tmp_path / name).write_text("x")
    (tmp_path / ".dir.tmp").mkdir()
    (tmp_path / ".link.tmp").symlink_to(tmp_path / "a.key")
    assert atomic.clear_leftovers_in(str(tmp_path)) == [".a.key.0123456789ab.tmp", ".a.key.tmp"]
    assert sorted(os.listdir(tmp_path)) == [".dir.tmp", ".hidden", ".link.tmp", "a.key", "visible.tmp"]
    assert atomic.clear_leftovers_in(str(tmp_path / "missing")) == []
