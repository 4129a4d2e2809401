"""Bad input gives one clear paragraph and a non-zero exit, never a traceback (no engine needed)."""

from __future__ import annotations

import socket
import time

import pytest

from tests.helpers import FIXTURES, assert_clean_error, copy_example, run_cli


def test_missing_config(tmp_path):
    assert_clean_error(run_cli("--project", str(tmp_path), "build", "--all"), 2, "No builder configuration", "--project DIR")


def test_unknown_function_suggests_the_closest_name(tmp_path):
    root = copy_example(tmp_path / "backend")
    result = run_cli("--project", str(root), "build", "--function", "helth")
    assert_clean_error(result, 2, "No function named 'helth'", "Did you mean 'health'?")


def test_handler_file_that_does_not_exist(tmp_path):
    root = copy_example(tmp_path / "backend")
    toml = root / "builder.toml"
    toml.write_text(toml.read_text().replace("functions/health/ping.handler", "functions/health/pong.handler"))
    assert_clean_error(run_cli("--project", str(root), "build", "--all"), 2, "functions/health/pong.py does not exist")


def test_handler_function_that_does_not_exist(tmp_path):
    root = copy_example(tmp_path / "backend")
    toml = root / "builder.toml"
    toml.write_text(toml.read_text().replace("functions/health/ping.handler", "functions/health/ping.main"))
    assert_clean_error(run_cli("--project", str(root), "build", "--all"), 2, "defines no top-level 'main'")


def test_build_without_function_names_says_what_to_pass(tmp_path):
    root = copy_example(tmp_path / "backend")
    assert_clean_error(run_cli("--project", str(root), "build"), 2, "--function NAME", "--all")


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
def test_jobs_must_be_a_whole_number_of_at_least_one(tmp_path, jobs):
    root = copy_example(tmp_path / "backend")
    result = run_cli("--project", str(root), "build", "--all", "--jobs", jobs)
    assert_clean_error(result, 2, "--jobs", "expected a whole number of at least 1")


def test_an_engine_that_accepts_and_never_answers_fails_fast_naming_docker_host(tmp_path):
    hung = socket.socket(socket.AF_UNIX)
    path = tmp_path / "hung.sock"
    hung.bind(str(path))
    hung.listen(8)  # connections are accepted by the kernel and never answered
    started = time.monotonic()
    try:
        result = run_cli("--project", str(FIXTURES / "mini"), "build", "--function", "hello",
                         env={"DOCKER_HOST": f"unix://{path}"})  # fmt: skip
    finally:
        hung.close()
    assert time.monotonic() - started < 60
    assert_clean_error(result, 3, f"DOCKER_HOST=unix://{path}", "restart it if it hangs")


@pytest.mark.parametrize("tag", ["Bad Tag!", "-x", ".x", "a" * 129])
def test_a_tag_docker_would_refuse_is_refused_before_any_work(tag):
    result = run_cli("--project", str(FIXTURES / "mini"), "build", "--function", "hello", f"--tag={tag}")
    assert_clean_error(result, 2, "is not an image tag")


def test_build_all_and_function_together_are_a_usage_error():
    result = run_cli("--project", str(FIXTURES / "mini"), "build", "--all", "--function", "hello")
    assert_clean_error(result, 2, "Pass either --function NAME (repeatable) or --all, not both.")
