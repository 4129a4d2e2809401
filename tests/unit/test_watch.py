"""``run --watch``'s change detection, on files in tmp_path."""

from __future__ import annotations

import os
import threading
import time

from builder.local import watch


def test_a_change_is_seen_and_an_edit_during_the_rebuild_is_the_next_change(tmp_path):
    code, other = tmp_path / "app.py", tmp_path / "lib.py"
    code.write_text("v1")
    other.write_text("x")
    state = watch.snapshot([code, other])
    code.write_text("v2 longer")
    edited, state = watch.wait_for_change(state, stop=lambda: False, poll=0.01)
    assert edited == [str(code)]
    os.utime(other, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))  # edited while "rebuilding"
    state = watch.carry(state, [code, other, tmp_path / "new.py"])  # a new file joined the closure
    edited, _ = watch.wait_for_change(state, stop=lambda: False, poll=0.01)
    assert edited == [str(other)]


def test_a_deleted_file_is_a_change_and_stop_ends_the_wait(tmp_path):
    code = tmp_path / "app.py"
    code.write_text("v1")
    state = watch.snapshot([code])
    code.unlink()
    assert watch.wait_for_change(state, stop=lambda: False, poll=0.01)[0] == [str(code)]
    stopped = threading.Event()
    threading.Timer(0.05, stopped.set).start()
    assert watch.wait_for_change(watch.snapshot([code]), stop=stopped.is_set, poll=0.01)[0] == []
