"""Atomic writes: through links, as a stream to character devices, never over special files."""

from __future__ import annotations

import os

import pytest

from builder.core.errors import ConfigError
from builder.core.files import write_atomic


def test_a_link_stays_a_link_and_its_target_gets_the_text(tmp_path):
    (tmp_path / "real.yaml").write_text("old\n")
    (tmp_path / "template.yaml").symlink_to("real.yaml")
    write_atomic(tmp_path / "template.yaml", "new\n")
    assert (tmp_path / "template.yaml").is_symlink() and (tmp_path / "real.yaml").read_text() == "new\n"


def test_a_character_device_is_written_as_a_stream(tmp_path):
    write_atomic("/dev/null", "text")  # replaced by a file, it would break the machine
    assert not os.path.isfile("/dev/null")
    (tmp_path / "out").symlink_to("/dev/null")
    write_atomic(tmp_path / "out", "text")
    assert (tmp_path / "out").is_symlink()


@pytest.mark.parametrize("kind", ["fifo", "folder"])
def test_other_special_files_are_refused_and_left_as_they_are(tmp_path, kind):
    path = tmp_path / kind
    os.mkfifo(path) if kind == "fifo" else path.mkdir()
    with pytest.raises(ConfigError, match=r"is not a regular file .*Name a file"):
        write_atomic(path, "text")
    assert (path.is_fifo() if kind == "fifo" else path.is_dir())
