"""Unit: how several image builds are scheduled (the docker build itself is faked here;
test_build.py builds the eight example images for real, four at a time)."""

from __future__ import annotations

import threading
import time

import pytest

from builder import pipeline
from builder.core.errors import BuildError


@pytest.fixture
def fake_build(monkeypatch):
    """Replace the one-image build: ``plan`` maps a name to (seconds, fails); records starts."""
    started: list[str] = []
    lock = threading.Lock()
    plan: dict[str, tuple[float, bool]] = {}

    def build(config, engine, dockerfile_text, function, *, tag="latest"):
        with lock:
            started.append(function)
        seconds, fails = plan[function]
        time.sleep(seconds)
        if fails:
            raise BuildError(f"docker build of {function} failed")
        return pipeline.Built(function, f"{function}:{tag}", 100, 10, seconds)

    monkeypatch.setattr(pipeline, "build", build)
    return plan, started


def test_results_come_back_in_the_order_asked_whatever_finishes_first(fake_build):
    plan, _ = fake_build
    plan.update({"slow": (0.3, False), "fast": (0.0, False), "mid": (0.1, False)})
    done = []
    built = pipeline.build_many(None, None, "", ["slow", "fast", "mid"], jobs=3, on_done=lambda b: done.append(b.function))
    assert [b.function for b in built] == ["slow", "fast", "mid"]
    assert done == ["fast", "mid", "slow"]  # progress is reported as each one ends


def test_builds_run_at_once_up_to_jobs(fake_build):
    plan, _ = fake_build
    plan.update({name: (0.3, False) for name in "abcd"})
    started = time.monotonic()
    pipeline.build_many(None, None, "", list("abcd"), jobs=4)
    assert time.monotonic() - started < 0.9  # one after another would take 1.2 s


def test_after_a_failure_no_new_build_starts_and_the_failure_is_raised(fake_build):
    plan, started = fake_build
    plan.update({"a": (0.0, False), "bad": (0.05, True), "c": (0.0, False), "d": (0.0, False)})
    with pytest.raises(BuildError, match="docker build of bad failed"):
        pipeline.build_many(None, None, "", ["a", "bad", "c", "d"], jobs=1)
    assert started == ["a", "bad"]


def test_builds_running_when_one_fails_finish_and_are_reported(fake_build):
    plan, started = fake_build
    plan.update({"bad": (0.1, True), "long": (0.3, False), "never": (0.0, False)})
    done = []
    with pytest.raises(BuildError, match="bad"):
        pipeline.build_many(None, None, "", ["bad", "long", "never"], jobs=2, on_done=lambda b: done.append(b.function))
    assert "never" not in started
    assert done == ["long"]  # it finished (its image is kept) even though the run failed
