"""The wheelhouse's integrity: every build checks the wheels it uses against what was downloaded
(and the lock's --hash values); a deleted wheel is fetched again; a killed download's folder goes.
pip is replaced by a fake that writes small wheels: no network."""

from __future__ import annotations

import os
import shutil
import zipfile

import pytest

from builder.core.errors import LockError
from builder.core.paths import WHEELHOUSE
from builder.deps import wheelhouse
from builder.deps.lock import Pin
from builder.project import config
from tests.helpers import FIXTURES
from tests.unit.fakes import make_wheel

LOCK = "numpy==2.2.6\npandas==2.2.3\n"


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The mini backend with a two-pin lock, and a fake ``pip download`` that counts its runs."""
    root = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", root)
    (root / "requirements" / "functions.txt").write_text(LOCK)
    runs = []

    def download_lock(lock, dest, **_):
        runs.append(dest)
        make_wheel(dest, "numpy", "2.2.6", {"numpy/__init__.py": 10})
        make_wheel(dest, "pandas", "2.2.3", {"pandas/__init__.py": 10})
        return []

    monkeypatch.setattr(wheelhouse, "download_lock", download_lock)
    return root, runs


def wheels(root):
    return sorted((root / WHEELHOUSE).glob("*.whl"))


def test_unchanged_wheels_pass_and_a_changed_one_fails_naming_it_and_how_to_fetch_it_again(project):
    root, _ = project
    cfg = config.load(root)
    wheelhouse.ensure(cfg)
    wheelhouse.verify(cfg, wheels(root))
    wheelhouse.verify(cfg, wheels(root))  # again, from the recorded signatures
    numpy = wheels(root)[0]
    with zipfile.ZipFile(numpy, "a") as zf:  # a file added to the wheel after its download
        zf.writestr("numpy/evil.py", "print('hi')\n")
    with pytest.raises(LockError, match=r"numpy-2.2.6-py3-none-any.whl: it is not the file that was downloaded .*"
                                        r"`rm \.builder/wheelhouse/numpy") as raised:  # fmt: skip
        wheelhouse.verify(cfg, wheels(root))
    assert raised.value.exit_code == 5


def test_a_change_that_keeps_size_and_mtime_is_still_seen(project):
    root, _ = project
    cfg = config.load(root)
    wheelhouse.ensure(cfg)
    wheelhouse.verify(cfg, wheels(root))
    numpy = wheels(root)[0]
    st = numpy.stat()
    data = bytearray(numpy.read_bytes())
    data[-30] ^= 1  # one byte flipped, same size
    numpy.write_bytes(bytes(data))
    os.utime(numpy, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old time put back
    with pytest.raises(LockError, match="not the file that was downloaded"):
        wheelhouse.verify(cfg, wheels(root))


def test_a_wheel_builder_did_not_download_or_the_lock_does_not_allow_fails(project):
    root, _ = project
    cfg = config.load(root)
    wheelhouse.ensure(cfg)
    stranger = make_wheel(root / WHEELHOUSE, "six", "1.16.0", {"six.py": 3})
    with pytest.raises(LockError, match="six-1.16.0-py3-none-any.whl: builder did not download it"):
        wheelhouse.verify(cfg, [stranger])
    (root / "requirements" / "functions.txt").write_text("numpy==2.2.6 --hash=sha256:" + "0" * 64 + "\npandas==2.2.3\n")
    with pytest.raises(LockError, match="numpy-2.2.6-py3-none-any.whl: the lock's --hash values do not allow it"):
        wheelhouse.verify(config.load(root), wheels(root)[:1])


def test_a_deleted_wheel_is_fetched_again_and_a_killed_downloads_folder_is_removed(project):
    root, runs = project
    cfg = config.load(root)
    wheelhouse.ensure(cfg)
    wheelhouse.ensure(cfg)
    assert len(runs) == 1  # the stamp and the record match: nothing to fetch
    wheels(root)[0].unlink()
    leftover = root / ".builder" / "wheelhouse.tmp-killed"
    leftover.mkdir()
    wheelhouse.ensure(cfg)
    assert len(runs) == 2 and [w.name for w in wheels(root)][0].startswith("numpy")
    assert not leftover.exists()
    wheelhouse.verify(cfg, wheels(root))


def test_the_pins_downloaded_are_those_whose_markers_hold_on_the_target_not_on_this_python():
    # pip evaluates a requirement's markers for the Python it runs on, whatever --python-version says.
    pins = [Pin("six", "1.17.0", 1), Pin("tomli", "2.0.1", 2, marker='python_version < "3.11"'),
            Pin("idna", "3.20", 3, marker='python_version >= "3.14"'),
            Pin("uvloop", "0.21.0", 4, marker='platform_machine == "aarch64"')]  # fmt: skip
    names = {arch: [p.name for p in wheelhouse._for_target(pins, "3.14", arch)] for arch in ("x86_64", "arm64")}
    assert names == {"x86_64": ["six", "idna"], "arm64": ["six", "idna", "uvloop"]}
    assert [p.name for p in wheelhouse._for_target(pins, "3.10", "x86_64")] == ["six", "tomli"]
