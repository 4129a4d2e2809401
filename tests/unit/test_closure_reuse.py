"""A stored closure is reused only while nothing it depends on has changed (files, config, target, wheels,
builder's own code)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from builder.analysis.closure import compute_closures
from builder.analysis.import_graph import CODE_MODULES
from builder.analysis.imports import scan_full
from builder.analysis.parse_cache import CLOSURES_FILE, ParseCache
from builder.analysis.records import Closure
from builder.core.errors import AnalysisError
from builder.deps.dists import DistIndex, parse_lock
from builder.deps.target import Target
from builder.project import config
from tests.helpers import REPO
from tests.unit.fakes import HANDLER, backend, files, make_wheel

# --- reusing a whole result: only while nothing it depends on has changed ----------------------

REUSE_APP = """import shared.models
try:
    import shared.fast
except ImportError:
    fast = None
from shared import util
import six
"""


def reuse_backend(root: Path, **function: object) -> tuple[config.Config, DistIndex]:
    cfg = backend(root, {"functions/app.py": REUSE_APP + HANDLER, "shared/models.py": "import shared.base\n",
                         "shared/base.py": "", "shared/util.py": "", "templates/a.txt": "a"})  # fmt: skip
    if function:
        cfg = config.load(root, functions=(config.FunctionConfig("app", "functions/app.handler", **function),))
    make_wheel(root / "wheels", "six", "1.16.0", {"six.py": 30})
    return cfg, DistIndex.from_wheelhouse(root / "wheels", parse_lock(cfg.lock_path))


def analyse(cfg: config.Config, index: DistIndex, target: Target | None = None) -> tuple[Closure, bool]:
    """As the CLI runs it (load the cache, compute, save); checked against a computation from scratch."""
    cache = ParseCache.load(cfg.root)
    closures = compute_closures(cfg, index, cache=cache, target=target)
    cache.save()
    assert closures == compute_closures(cfg, index, target=target)
    return closures["app"], cache.closures_reused


BASE_FILES = {"functions/__init__.py", "functions/app.py", "shared/models.py", "shared/base.py", "shared/util.py"}


def test_a_stored_result_is_reused_while_nothing_changed(tmp_path: Path) -> None:
    cfg, index = reuse_backend(tmp_path)
    first, reused = analyse(cfg, index)
    assert files(first) == BASE_FILES and not reused
    assert (tmp_path / CLOSURES_FILE).is_file()
    assert not [p for p in (tmp_path / CLOSURES_FILE).parent.iterdir() if p.suffix == ".tmp"]
    again, reused = analyse(cfg, index)
    assert reused and again == first
    assert [f.reasons for f in again.local_files] == [f.reasons for f in first.local_files]
    cache = ParseCache()  # in memory too: a second run on the same cache
    assert compute_closures(cfg, index, cache=cache) == compute_closures(cfg, index, cache=cache)
    assert cache.closures_reused


def test_editing_a_file_invalidates_even_at_the_same_size_and_second(tmp_path: Path) -> None:
    cfg, index = reuse_backend(tmp_path)
    analyse(cfg, index)
    (tmp_path / "shared/models.py").write_text("import shared.util\n")  # as long as before
    closure, reused = analyse(cfg, index)
    assert not reused and files(closure) == BASE_FILES - {"shared/base.py"}
    assert analyse(cfg, index) == (closure, True)


def test_unchanged_files_are_not_read_and_edited_ones_are_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, index = reuse_backend(tmp_path)
    past = time.time() - 60  # stat signatures are trusted for files last modified over 2 s before
    for path in tmp_path.rglob("*.py"):
        os.utime(path, (past, past))
    first, _ = analyse(cfg, index)
    with monkeypatch.context() as patch:
        patch.setattr("builder.analysis.parse_cache.open", lambda *a, **k: pytest.fail("read an unchanged file"), raising=False)
        cache = ParseCache.load(tmp_path)
        assert compute_closures(cfg, index, cache=cache)["app"] == first and cache.closures_reused
    (tmp_path / "shared/base.py").write_text("import shared.util\n")
    closure, reused = analyse(cfg, index)
    util = next(f for f in closure.local_files if f.path == "shared/util.py")
    assert not reused and util.reasons[-1] == ("import", "shared/base.py", 1)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"shared/fast.py": ""}, BASE_FILES | {"shared/fast.py"}),  # an optional import now resolves
        ({"shared/util/__init__.py": ""}, BASE_FILES - {"shared/util.py"} | {"shared/util/__init__.py"}),  # shadows
        ({"shared/fast/__init__.py": "", "shared/fast/x.py": ""}, BASE_FILES | {"shared/fast/__init__.py"}),
        ({"functions/other.py": ""}, BASE_FILES),  # unrelated, but the module table changed: computed again
    ],
)  # fmt: skip
def test_adding_a_module_invalidates(tmp_path: Path, change: dict[str, str], expected: set[str]) -> None:
    cfg, index = reuse_backend(tmp_path)
    analyse(cfg, index)
    for rel, text in change.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    closure, reused = analyse(cfg, index)
    assert not reused and files(closure) == expected


def test_deleting_a_module_invalidates(tmp_path: Path) -> None:
    cfg, index = reuse_backend(tmp_path)
    (tmp_path / "shared/fast.py").write_text("")
    assert files(analyse(cfg, index)[0]) == BASE_FILES | {"shared/fast.py"}
    (tmp_path / "shared/fast.py").unlink()
    closure, reused = analyse(cfg, index)
    assert not reused and files(closure) == BASE_FILES
    (tmp_path / "shared/util.py").unlink()  # required: an error, not a stale result
    with pytest.raises(AnalysisError, match="'shared' is a namespace package and has no module 'util'"):
        compute_closures(cfg, index, cache=ParseCache.load(tmp_path))


def test_includes_config_target_and_distributions_invalidate(tmp_path: Path) -> None:
    cfg, index = reuse_backend(tmp_path, include=("templates/*.txt",))
    closure, _ = analyse(cfg, index)
    assert files(closure) == BASE_FILES | {"templates/a.txt"} and analyse(cfg, index)[1]
    (tmp_path / "templates/b.txt").write_text("b")  # a new match, outside the source roots
    closure, reused = analyse(cfg, index)
    assert not reused and files(closure) == BASE_FILES | {"templates/a.txt", "templates/b.txt"}
    assert analyse(cfg, index)[1]
    (tmp_path / "templates/b.txt").write_text("bigger")  # a data file's size is in its closure
    closure, reused = analyse(cfg, index)
    assert not reused and {f.path: f.size for f in closure.local_files}["templates/b.txt"] == 6
    assert analyse(cfg, index)[1]
    cfg = config.load(tmp_path, functions=(config.FunctionConfig(
        "app", "functions/app.handler", include=("templates/*.txt",), exclude_modules=("shared.base",)),))  # fmt: skip
    closure, reused = analyse(cfg, index)
    assert not reused and "shared/base.py" not in files(closure)
    assert analyse(cfg, index)[1]
    assert not analyse(cfg, index, Target("3.12"))[1]
    assert analyse(cfg, index, Target("3.12"))[1]
    assert not analyse(cfg, index)[1]
    assert analyse(cfg, index)[1]
    make_wheel(tmp_path / "wheels2", "six", "1.16.0", {"six.py": 99})  # the same pin, another wheel
    closure, reused = analyse(cfg, DistIndex.from_wheelhouse(tmp_path / "wheels2", parse_lock(cfg.lock_path)))
    assert not reused and closure.distribution("six").size > 99


def test_a_code_change_or_a_damaged_store_invalidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg, index = reuse_backend(tmp_path)
    first, _ = analyse(cfg, index)
    monkeypatch.setattr("builder.analysis.import_graph._code_digest", lambda: "another builder")
    assert analyse(cfg, index) == (first, False)
    assert analyse(cfg, index) == (first, True)
    monkeypatch.setattr("builder.analysis.import_graph._code_digest", lambda: None)  # its sources cannot be read
    assert analyse(cfg, index) == (first, False)
    assert analyse(cfg, index) == (first, False)
    monkeypatch.undo()
    analyse(cfg, index)
    stored = json.loads((tmp_path / CLOSURES_FILE).read_text())
    stored["files"][2][0] = [10**6]  # a reason that is not there
    (tmp_path / CLOSURES_FILE).write_text(json.dumps(stored))
    assert analyse(cfg, index) == (first, False)
    (tmp_path / CLOSURES_FILE).write_text("{")
    assert analyse(cfg, index) == (first, False)


def test_the_fingerprint_covers_the_code_that_computes_closures() -> None:
    package = REPO / "builder"
    todo, seen = ["analysis/closure"], set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            here = Path(name).parent
            for record in scan_full((package / f"{name}.py").read_text(), name).imports:
                if record.level == 0:
                    continue
                base = here
                for _ in range(record.level - 1):
                    base = base.parent
                stem = base / record.module.replace(".", "/") if record.module else base
                candidates = [stem] if record.module else [stem / n for n in record.names or ()]
                todo += [c.as_posix() for c in candidates if (package / f"{c}.py").is_file()]
    assert seen == set(CODE_MODULES)
