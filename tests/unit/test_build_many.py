"""Unit: how several image builds are scheduled (the docker build itself is faked here;
the acceptance tests build the eight example images for real, four at a time).

The fake builds wait on events, never on the clock: each one may be told to wait until
others have started or finished, so every ordering below is forced, not hoped for.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from builder import pipeline
from builder.core.errors import BuildError

TIMEOUT = 10  # seconds a fake build waits for another before the test fails


@dataclass
class Fake:
    """What each fake build waits for and whether it fails; what happened, in order."""

    after_started: dict[str, tuple[str, ...]] = field(default_factory=dict)
    after_done: dict[str, tuple[str, ...]] = field(default_factory=dict)
    fails: set[str] = field(default_factory=set)
    started: list[str] = field(default_factory=list)
    ended_before: dict[str, set[str]] = field(default_factory=dict)  # the builds that had ended when each started
    lock: threading.Lock = field(default_factory=threading.Lock)
    began: dict[str, threading.Event] = field(default_factory=dict)
    ended: dict[str, threading.Event] = field(default_factory=dict)

    def event(self, table: dict[str, threading.Event], name: str) -> threading.Event:
        with self.lock:
            return table.setdefault(name, threading.Event())

    def build(self, config, engine, dockerfile_text, function, *, tag="latest"):
        with self.lock:
            self.started.append(function)
            self.ended_before[function] = {name for name, event in self.ended.items() if event.is_set()}
        self.event(self.began, function).set()
        try:
            for other in self.after_started.get(function, ()):
                assert self.event(self.began, other).wait(TIMEOUT), f"{other} never started beside {function}"
            for other in self.after_done.get(function, ()):
                assert self.event(self.ended, other).wait(TIMEOUT), f"{other} never finished before {function}"
            if function in self.fails:
                raise BuildError(f"docker build of {function} failed")
            return pipeline.Built(function, f"{function}:{tag}", 100, 10, 0.0)
        finally:
            self.event(self.ended, function).set()


@pytest.fixture
def fake(monkeypatch) -> Fake:
    """Replace the one-image build with a ``Fake`` the test programs."""
    fake = Fake()
    monkeypatch.setattr(pipeline, "build", fake.build)
    return fake


def test_results_come_back_in_the_order_asked_whatever_finishes_first(fake):
    fake.after_done.update({"slow": ("mid",), "mid": ("fast",)})
    done = []
    built = pipeline.build_many(None, None, "", ["slow", "fast", "mid"], jobs=3, on_done=lambda b: done.append(b.function))
    assert [b.function for b in built] == ["slow", "fast", "mid"]
    assert done == ["fast", "mid", "slow"]  # progress is reported as each one ends


def test_builds_run_at_once_up_to_jobs(fake):
    # Each build finishes only once all four have started: one after another would never get there.
    fake.after_started.update({name: tuple("abcd") for name in "abcd"})
    built = pipeline.build_many(None, None, "", list("abcd"), jobs=4)
    assert [b.function for b in built] == list("abcd")


def test_after_a_failure_no_new_build_starts_and_the_failure_is_raised(fake):
    fake.fails.add("bad")
    with pytest.raises(BuildError, match="docker build of bad failed"):
        pipeline.build_many(None, None, "", ["a", "bad", "c", "d"], jobs=1)
    assert fake.started == ["a", "bad"]


def test_builds_running_when_one_fails_finish_and_are_reported(fake):
    # "bad" fails while "long" runs ("long" ends only after "bad" has); "never" is not started.
    fake.fails.add("bad")
    fake.after_started["bad"] = ("long",)
    fake.after_done["long"] = ("bad",)
    done = []
    with pytest.raises(BuildError, match="bad"):
        pipeline.build_many(None, None, "", ["bad", "long", "never"], jobs=2, on_done=lambda b: done.append(b.function))
    assert "never" not in fake.started
    assert done == ["long"]  # it finished (its image is kept) even though the run failed


# Three functions' production stages: "orders" starts with the layers "export" starts with.
SHARING = """\
FROM ${BASE_IMAGE} AS export
COPY --from=deps-boto3 /out/ /
COPY --from=code-export /out/function/ /

FROM ${BASE_IMAGE} AS orders
COPY --from=deps-boto3 /out/ /
COPY --from=deps-pydantic /out/ /
COPY --from=code-orders /out/function/ /

FROM ${BASE_IMAGE} AS thumbnail
COPY --from=deps-pillow /out/ /
COPY --from=code-thumbnail /out/function/ /
"""


def test_a_function_sharing_layers_with_an_earlier_one_starts_after_it_has_ended(fake):
    # "thumbnail" shares nothing: it builds beside "export" (each waits until the other has started).
    fake.after_started.update({"export": ("thumbnail",), "thumbnail": ("export",)})
    built = pipeline.build_many(None, None, SHARING, ["export", "orders", "thumbnail"], jobs=3)
    assert [b.function for b in built] == ["export", "orders", "thumbnail"]
    assert "export" in fake.ended_before["orders"]  # it found the boto3 layer built, not building
    assert "export" not in fake.ended_before["thumbnail"]


def test_a_function_asked_for_twice_is_built_once(fake):
    built = pipeline.build_many(None, None, SHARING, ["orders", "orders"], jobs=2)
    assert [b.function for b in built] == ["orders"] and fake.started == ["orders"]
