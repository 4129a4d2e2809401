"""Making the local base: which Debian release has each Python, and debootstrap's script for it."""

from __future__ import annotations

import pytest

from builder.core.errors import ConfigError
from builder.image import base


def test_each_python_debian_has_as_its_python3_has_a_release_and_the_others_say_what_to_do():
    assert base.suite_for("3.11") == "bookworm" and base.suite_for("3.13") == "trixie"
    assert base.suite_for("3.14") == "forky"  # Debian's testing release
    with pytest.raises(ConfigError, match=r"No Debian release has Python 3\.12.*base --from"):
        base.suite_for("3.12")


def test_a_suite_newer_than_debootstrap_is_made_with_sids_script(tmp_path):
    (tmp_path / "sid").write_text("# sid's script\n")
    (tmp_path / "bookworm").symlink_to("sid")
    assert base._script("bookworm", tmp_path) == []  # debootstrap knows it: no script argument
    assert base._script("forky", tmp_path) == [str(tmp_path / "sid")]
    assert base._script("forky", tmp_path / "none") == []  # no scripts folder: debootstrap's own error


def test_the_command_that_makes_a_missing_base_is_one_that_can():
    assert base.make_command("3.13") == "`python -m builder base --bootstrap` (no registry needed)"
    assert base.make_command("3.11", "arm64").startswith("`python -m builder base --bootstrap --architecture arm64`")
    assert base.make_command("3.12", "arm64").startswith(
        "`python -m builder base --from IMAGE --python-version 3.12 --architecture arm64`")  # no Debian has 3.12


def test_a_base_is_stale_when_another_builder_made_it():
    mine = {base.BASE_LABEL: base.resources_digest()}
    assert len(mine[base.BASE_LABEL]) == 16
    assert not base.stale("builder-lambda-python:3.11", mine)
    assert base.stale("builder-lambda-python:3.11", {base.BASE_LABEL: "0123456789abcdef"})
    assert base.stale("builder-lambda-python:3.13-arm64", {})  # the stand-in, made before bases were labelled
    assert not base.stale("public.ecr.aws/lambda/python:3.11", {})  # AWS's: not builder's to judge
    assert base.stale("my-base:1", {base.BASE_LABEL: "0123456789abcdef"})
