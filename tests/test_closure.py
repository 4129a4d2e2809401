"""Per-function closures on fixture backends: every import form, each closure asserted exactly."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest
from test_dists import make_wheel

from builder.analysis.closure import compute_closure, compute_closures, unused_distributions
from builder.analysis.fastscan import scan_fast
from builder.analysis.import_graph import CODE_MODULES
from builder.analysis.imports import DYNAMIC, OPTIONAL, ImportRecord, scan_full
from builder.analysis.parse_cache import CLOSURES_FILE, ParseCache
from builder.analysis.records import Closure, Reason
from builder.analysis.render import closure_to_json, closures_to_json, render_tree, render_unused, unused_to_json
from builder.core.errors import AnalysisError, LockError
from builder.deps.dists import DistIndex, parse_lock
from builder.deps.target import Target
from builder.project import config

FORMS = Path(__file__).parent / "fixtures" / "closure" / "forms"


def forms_wheelhouse(folder: Path) -> Path:
    """Fake wheels for tests/fixtures/closure/forms/requirements/functions.txt."""
    make_wheel(folder, "PyYAML", "6.0.2", {"yaml/__init__.py": 1000, "_yaml/__init__.py": 10},
               top_level="_yaml\nyaml\n")  # fmt: skip
    make_wheel(folder, "pillow", "11.0.0", {"PIL/__init__.py": 10, "PIL/Image.py": 2000}, top_level="PIL\n")
    make_wheel(folder, "protobuf", "5.28.0", {"google/protobuf/__init__.py": 1, "google/protobuf/json_format.py": 10},
               top_level="google\n")  # fmt: skip
    make_wheel(folder, "googleapis-common-protos", "1.65.0",
               {"google/api/__init__.py": 1, "google/api/annotations.py": 1}, requires=("protobuf>=3.20",))  # fmt: skip
    make_wheel(folder, "pandas", "2.2.3", {"pandas/__init__.py": 40000}, extras=("test",), requires=(
        'numpy>=1.23.2; python_version == "3.11"', 'numpy>=1.26.0; python_version >= "3.12"',
        "python-dateutil>=2.8.2", 'tzdata>=2022.7; sys_platform == "win32"', 'tomli>=2; python_version < "3.11"',
        'pytest>=7; extra == "test"'))  # fmt: skip
    make_wheel(folder, "numpy", "2.1.0", {"numpy/__init__.py": 50000, "numpy.libs/libopenblas.so": 9000})
    make_wheel(folder, "python-dateutil", "2.9.0.post0", {"dateutil/__init__.py": 300}, top_level="dateutil\n",
               requires=("six>=1.5",))  # fmt: skip
    make_wheel(folder, "six", "1.16.0", {"six.py": 30})
    make_wheel(folder, "tzdata", "2024.2", {"tzdata/__init__.py": 500})
    make_wheel(folder, "tomli", "2.0.2", {"tomli/__init__.py": 20})
    make_wheel(folder, "fancylib", "1.0", {"fancylib/__init__.py": 5}, extras=("fast",),
               requires=('fancylib-speedups>=1; extra == "fast"',))  # fmt: skip
    make_wheel(folder, "fancylib-speedups", "1.0", {"fancylib_speedups/__init__.py": 5})
    make_wheel(folder, "libdist", "0.1", {"lib/__init__.py": 5}, top_level="lib\n")
    return folder


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> tuple[config.Config, DistIndex]:
    cfg = config.load(FORMS)
    house = forms_wheelhouse(tmp_path_factory.mktemp("wheels"))
    return cfg, DistIndex.from_wheelhouse(house, parse_lock(cfg.lock_path, target=Target("3.11")))


@pytest.fixture(scope="module")
def closures(forms: tuple[config.Config, DistIndex]) -> dict[str, Closure]:
    cfg, index = forms
    return compute_closures(cfg, index, target=Target("3.11"))


def files(closure: Closure) -> set[str]:
    return {f.path for f in closure.local_files}


def dists(closure: Closure) -> set[str]:
    return {d.name for d in closure.distributions}


def optional_files(closure: Closure) -> set[str]:
    return {f.path for f in closure.local_files if f.optional}


# --- every import form, exactly -----------------------------------------------------------------

EXPECTED_FILES = {
    "plain": {"functions/__init__.py", "functions/plain.py", "lib/__init__.py", "lib/models/__init__.py",
              "lib/models/user.py"},
    "from-import": {"functions/__init__.py", "functions/from_import.py", "lib/__init__.py", "lib/models/__init__.py",
                    "lib/models/order.py", "lib/models/user.py"},
    "relative": {"functions/__init__.py", "functions/deep/__init__.py", "functions/deep/a/__init__.py",
                 "functions/deep/a/b/__init__.py", "functions/deep/a/b/relative.py", "functions/deep/a/b/sibling.py",
                 "functions/deep/a/helpers.py", "functions/deep/top.py"},
    "namespace": {"functions/__init__.py", "functions/namespace.py", "shared/tokens.py", "shared/crypto/hashing.py"},
    "lazy": {"functions/__init__.py", "functions/lazy.py", "lib/__init__.py", "lib/lazy_dep.py", "shared/tokens.py"},
    "optional": {"functions/__init__.py", "functions/optional.py", "lib/__init__.py", "lib/core.py",
                 "lib/speedups.py", "shared/fastpath.py"},
    "type-checking": {"functions/__init__.py", "functions/type_checking.py", "lib/__init__.py", "lib/core.py"},
    "dynamic": {"functions/__init__.py", "functions/dynamic.py", "functions/plugins/__init__.py",
                "functions/plugins/alpha.py", "functions/plugins/gamma.py", "lib/__init__.py",
                "lib/models/__init__.py", "lib/models/user.py"},
    "stdlib-only": {"functions/__init__.py", "functions/stdlib_only.py"},
    "third-party": {"functions/__init__.py", "functions/third_party.py"},
    "cycle": {"functions/__init__.py", "functions/cycle/__init__.py", "functions/cycle/a.py", "functions/cycle/b.py",
              "functions/cycle/c.py"},
    "star": {"functions/__init__.py", "functions/star.py", "lib/__init__.py", "lib/plugins/__init__.py",
             "lib/plugins/csv_plugin.py"},
    "data": {"functions/__init__.py", "functions/data.py", "lib/__init__.py", "lib/core.py",
             "functions/templates/bye.txt", "functions/templates/welcome.txt"},
    "local-wins": {"functions/__init__.py", "functions/local_wins.py", "lib/__init__.py", "lib/core.py"},
}  # fmt: skip
EXPECTED_DISTS = {
    "optional": {"pyyaml"},
    "third-party": {"fancylib", "fancylib-speedups", "googleapis-common-protos", "numpy", "pandas", "pillow",
                    "protobuf", "python-dateutil", "pyyaml", "six"},
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(EXPECTED_FILES))
def test_each_import_form_gives_the_exact_closure(closures: dict[str, Closure], name: str) -> None:
    closure = closures[name]
    assert files(closure) == EXPECTED_FILES[name]
    assert dists(closure) == EXPECTED_DISTS.get(name, set())
    assert [f.path for f in closure.local_files] == sorted(EXPECTED_FILES[name])
    assert [d.name for d in closure.distributions] == sorted(EXPECTED_DISTS.get(name, set()))


def test_closures_cover_every_function(closures: dict[str, Closure], forms: tuple[config.Config, DistIndex]) -> None:
    assert sorted(closures) == sorted(fn.name for fn in forms[0].functions) == sorted(EXPECTED_FILES)


def test_reasons_say_why(closures: dict[str, Closure], forms: tuple[config.Config, DistIndex]) -> None:
    plain = {f.path: f for f in closures["plain"].local_files}
    assert plain["functions/plain.py"].reasons == (Reason("handler", "functions/plain.handler", 0),)
    assert plain["lib/models/user.py"].reasons == (("import", "functions/plain.py", 3),)
    # the packages on the way come in as the packages of what was imported
    assert plain["lib/models/__init__.py"].reasons == (("package", "lib/models/user.py", 0),)
    assert plain["lib/__init__.py"].reasons == (("package", "lib/models/__init__.py", 0),)
    assert plain["functions/__init__.py"].reasons == (("package", "functions/plain.py", 0),)
    from_import = {f.path: f for f in closures["from-import"].local_files}
    assert from_import["lib/__init__.py"].reasons == (("import", "functions/from_import.py", 3),
                                                      ("package", "lib/models/__init__.py", 0))  # fmt: skip
    assert plain["lib/models/user.py"].module == "lib.models.user"
    assert plain["lib/models/user.py"].size == (FORMS / "lib/models/user.py").stat().st_size
    third = {d.name: d for d in closures["third-party"].distributions}
    assert third["pandas"].reasons == (("import", "functions/third_party.py", 6),)
    assert third["numpy"].reasons == (("requires", "pandas", "numpy>=1.23.2"),)
    assert third["six"].reasons == (("requires", "python-dateutil", "six>=1.5"),)
    assert third["fancylib-speedups"].reasons == (("requires", "fancylib", "fancylib-speedups>=1"),)
    assert third["protobuf"].reasons == (("import", "functions/third_party.py", 4),
                                         ("requires", "googleapis-common-protos", "protobuf>=3.20"))  # fmt: skip
    assert (third["numpy"].version, third["numpy"].size) == ("2.1.0", forms[1].dist("numpy").size)
    assert forms[1].dist("numpy").size > 59000  # RECORD sizes, including numpy.libs


def test_optional_imports_are_marked(closures: dict[str, Closure]) -> None:
    closure = closures["optional"]
    assert optional_files(closure) == {"lib/speedups.py", "shared/fastpath.py"}
    assert [(d.name, d.optional) for d in closure.distributions] == [("pyyaml", True)]
    assert not closure.warnings  # ujson is optional and not locked: skipped silently


def test_dynamic_imports_resolved_or_warned_with_file_and_line(closures: dict[str, Closure]) -> None:
    warnings = [(w.path, w.line) for w in closures["dynamic"].warnings]
    assert warnings == [("functions/dynamic.py", 12), ("functions/dynamic.py", 13)]
    assert "importlib.import_module(PLUGIN) cannot be resolved statically" in closures["dynamic"].warnings[0].message
    assert "`include`" in closures["dynamic"].warnings[0].message


def test_include_globs_and_excluded_modules(closures: dict[str, Closure]) -> None:
    data = {f.path: f for f in closures["data"].local_files}
    assert data["functions/templates/bye.txt"].reasons == (("include", "functions/templates/*.txt", 0),)
    assert data["functions/templates/bye.txt"].module == ""
    assert not dists(closures["data"])  # lib.heavy.model imports pandas, but it is excluded


def test_markers_are_evaluated_for_the_target_not_the_host(forms: tuple[config.Config, DistIndex],
                                                           tmp_path: Path) -> None:  # fmt: skip
    cfg, _ = forms
    fn = cfg.function("third-party")
    house = forms_wheelhouse(tmp_path / "wheels")
    for version, expected in (("3.10", {"tomli"}), ("3.12", {"numpy"})):
        target = Target(version)
        index = DistIndex.from_wheelhouse(house, parse_lock(cfg.lock_path, target=target), target=target)
        got = dists(compute_closure(cfg, fn, index, target=target))
        common = {"fancylib", "fancylib-speedups", "googleapis-common-protos", "pandas", "pillow", "protobuf",
                  "python-dateutil", "pyyaml", "six"}  # fmt: skip
        assert got == common | expected, version


def test_unused_distributions(closures: dict[str, Closure], forms: tuple[config.Config, DistIndex]) -> None:
    unused = unused_distributions(closures, forms[1])
    assert unused == ("libdist", "tzdata")  # tomli is not pinned for 3.11
    assert "libdist 0.1" in render_unused(unused, forms[1])
    libdist = forms[1].dist("libdist")
    assert unused_to_json(unused, forms[1]) == {"schema_version": 1, "kind": "unused", "unused": [
        {"name": "libdist", "version": "0.1", "size": libdist.size},
        {"name": "tzdata", "version": "2024.2", "size": forms[1].dist("tzdata").size}]}  # fmt: skip


# --- rendering ----------------------------------------------------------------------------------


def test_render_tree(closures: dict[str, Closure]) -> None:
    text = render_tree(closures["third-party"])
    lines = text.splitlines()
    assert lines[0] == "third-party  (handler functions/third_party.handler, Python 3.11 linux/x86_64)"
    assert "local files: 2," in text
    row = next(line for line in lines if line.strip().startswith("pandas 2.2.3"))
    assert row.endswith("<- import at functions/third_party.py:6")
    numpy = lines[lines.index(row) + 1]
    assert numpy.startswith("    numpy 2.1.0") and numpy.endswith("<- pandas requires numpy>=1.23.2")
    six = next(line for line in lines if "six 1.16.0" in line)
    assert six.startswith("      six") and six.endswith("<- python-dateutil requires six>=1.5")
    assert any(line.strip().startswith("protobuf 5.28.0") and "(+1 more)" in line for line in lines)
    assert "[optional]" in render_tree(closures["optional"])
    assert "warnings: 2" in render_tree(closures["dynamic"])
    assert render_tree(closures["stdlib-only"]).count("distributions: none") == 1


def test_render_why(closures: dict[str, Closure]) -> None:
    text = render_tree(closures["third-party"], why="Six")
    assert text.splitlines()[1] == (
        "  Six <- python-dateutil requires six>=1.5 <- pandas requires python-dateutil>=2.8.2"
        " <- import at functions/third_party.py:6 <- handler functions/third_party.handler"
    )
    protobuf = render_tree(closures["third-party"], why="protobuf").splitlines()
    assert len(protobuf) == 3  # imported directly, and required by googleapis-common-protos
    local = render_tree(closures["plain"], why="lib.models.user")
    assert "lib.models.user <- import at functions/plain.py:3 <- handler functions/plain.handler" in local
    assert render_tree(closures["plain"], why="numpy") == "numpy is not in the closure of plain.\n"


def test_json_schema_is_stable(closures: dict[str, Closure]) -> None:
    data = closure_to_json(closures["optional"])
    assert data["schema_version"] == 1
    assert list(data) == ["schema_version", "kind", "function", "target", "lock_file", "local_files",
                          "distributions", "warnings", "runtime", "totals"]  # fmt: skip
    assert data["function"] == {"name": "optional", "handler": "functions/optional.handler",
                                "module": "functions.optional"}  # fmt: skip
    speedups = next(f for f in data["local_files"] if f["path"] == "lib/speedups.py")
    assert speedups == {"path": "lib/speedups.py", "module": "lib.speedups", "size": speedups["size"],
                        "optional": True, "reasons": [{"kind": "import", "path": "functions/optional.py", "line": 8}]}
    third = closure_to_json(closures["third-party"])
    numpy = next(d for d in third["distributions"] if d["name"] == "numpy")
    assert numpy["reasons"] == [{"kind": "requires", "by": "pandas", "requirement": "numpy>=1.23.2"}]
    assert third["totals"]["distributions"] == 10
    assert json.dumps(closures_to_json(closures), sort_keys=True) == json.dumps(closures_to_json(closures),
                                                                                   sort_keys=True)  # fmt: skip
    assert [f["function"]["name"] for f in closures_to_json(closures)["functions"]] == sorted(closures)
    assert str(FORMS) not in json.dumps(closures_to_json(closures))  # no absolute paths


# --- errors -------------------------------------------------------------------------------------


def backend(root: Path, sources: dict[str, str], lock: str = "six==1.16.0\n") -> config.Config:
    """A one-function backend in tmp_path: ``functions/app.py`` is the handler."""
    for rel, text in {"functions/__init__.py": "", **sources}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "shared").mkdir(exist_ok=True)
    (root / "requirements").mkdir(exist_ok=True)
    (root / "requirements/functions.txt").write_text(lock)
    (root / "builder.toml").write_text('name = "t"\n[functions.app]\nhandler = "functions/app.handler"\n')
    return config.load(root)


def closure_of(cfg: config.Config, tmp_path: Path) -> Closure:
    house = tmp_path / "wheels"
    if not house.exists():
        make_wheel(house, "six", "1.16.0", {"six.py": 30})
    index = DistIndex.from_wheelhouse(house, parse_lock(cfg.lock_path))
    return compute_closure(cfg, cfg.function("app"), index)


HANDLER = "def handler(event, context):\n    return 1\n"


@pytest.mark.parametrize(
    ("sources", "message"),
    [
        ({"functions/app.py": "import shared.broken\n" + HANDLER, "shared/broken.py": "def f(:\n    import os\n"},
         r"^shared/broken.py:1: syntax error: .*Fix it"),
        ({"functions/app.py": "import shared.broken\n" + HANDLER, "shared/broken.py": "import os\nx = '''oops\n"},
         r"^shared/broken.py:2: syntax error: unterminated triple-quoted string"),
        ({"functions/app.py": "import requests\n" + HANDLER},
         r"^functions/app.py:1: `import requests`: no distribution locked in requirements/functions.txt provides "
         r"the module 'requests'\. Add the distribution that provides it to requirements/functions.in, re-lock"),
        ({"functions/app.py": "from shared import nope\n" + HANDLER},
         r"functions/app.py:1: `from shared import nope`: 'shared' is a namespace package and has no module 'nope'"),
        ({"functions/app.py": "import shared.missing.deeper\n" + HANDLER},
         r"functions/app.py:1: `import shared.missing.deeper`: there is no module 'shared.missing' in the source"),
        ({"functions/app.py": "from ... import x\n" + HANDLER},
         r"functions/app.py:1: `from ... import x` goes beyond the top-level package 'functions'"),
    ],
)  # fmt: skip
def test_analysis_errors_name_file_and_line(tmp_path: Path, sources: dict[str, str], message: str) -> None:
    cfg = backend(tmp_path, sources)
    with pytest.raises(AnalysisError, match=message):
        closure_of(cfg, tmp_path)


def test_undecodable_file(tmp_path: Path) -> None:
    cfg = backend(tmp_path, {"functions/app.py": "import shared.latin\n" + HANDLER})
    (tmp_path / "shared/latin.py").write_bytes(b"# coding: utf-8\nx = '\xff'\n")
    with pytest.raises(AnalysisError, match=r"shared/latin.py: cannot decode the file .*Save it as UTF-8"):
        closure_of(cfg, tmp_path)


def test_all_errors_are_reported_at_once_and_optional_ones_not_at_all(tmp_path: Path) -> None:
    # (not boto3: the Lambda runtime has it, so no requirement needs to)
    app = "import requests\nimport yaml\ntry:\n    import orjson\nexcept ImportError:\n    orjson = None\n"
    cfg = backend(tmp_path, {"functions/app.py": app + HANDLER})
    with pytest.raises(AnalysisError) as info:
        closure_of(cfg, tmp_path)
    lines = str(info.value).splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == ["functions/app.py:1", "functions/app.py:2"]


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = backend(tmp_path, {"functions/app.py": "import shared.gone\n" + HANDLER, "shared/gone.py": ""})
    real_open = open

    def failing_open(path, *args, **kwargs):
        if str(path).endswith("gone.py"):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builder.analysis.parse_cache.open", failing_open, raising=False)
    with pytest.raises(AnalysisError, match=r"shared/gone.py: cannot read the file \(Permission denied\)"):
        closure_of(cfg, tmp_path)


def test_requirement_missing_from_the_lock(tmp_path: Path) -> None:
    cfg = backend(tmp_path, {"functions/app.py": "import needy\n" + HANDLER}, lock="needy==1.0\n")
    make_wheel(tmp_path / "wheels", "needy", "1.0", {"needy/__init__.py": 1}, requires=("six>=1",))
    with pytest.raises(LockError, match=r"needy 1.0 requires six>=1 on Python 3.11 linux, but "
                                        r"requirements/functions.txt does not pin six"):  # fmt: skip
        closure_of(cfg, tmp_path)


def test_cycles_terminate_and_exclusions_silence_errors(tmp_path: Path) -> None:
    cfg = backend(tmp_path, {
        "functions/app.py": "import shared.a\nimport functions.app\nimport shared.secret\n" + HANDLER,
        "shared/a.py": "import shared.b\n", "shared/b.py": "from shared import a\nimport shared.a\n",
    })  # fmt: skip
    with pytest.raises(AnalysisError, match="shared.secret"):
        closure_of(cfg, tmp_path)
    cfg = config.load(tmp_path, functions=(config.FunctionConfig("app", "functions/app.handler",
                                                                 exclude_modules=("shared.secret",)),))  # fmt: skip
    assert files(closure_of(cfg, tmp_path)) == {"functions/__init__.py", "functions/app.py", "shared/a.py",
                                                "shared/b.py"}  # fmt: skip


# --- the scanner --------------------------------------------------------------------------------

TRICKY = '''"""Docstring with
import not_an_import
from neither import this
"""
import os, sys as system  # comment with import x
from . import (
    alpha,
    beta as b,
)
from ..pkg.mod import *
import a.b.c; import d
x = "import fake"; y = 'from fake import z'
if x: import one_liner
@decorator
def f():
    s = """
from inside_string import nothing
"""
    import lazy  # inside a function
class K:
    def m(self):
        try:
            from opt import thing
        except (ImportError, KeyError):
            from fallback import thing
        else:
            import after_success
        finally:
            import always
with suppress(ImportError):
    import suppressed
if TYPE_CHECKING:
    import typing_only
elif sys.version_info > (3,):
    import version_branch
if not TYPE_CHECKING:
    import runtime_only
else:
    import also_typing_only
value = 1 + \\
2
import after_continuation
__all__ = ["a", "b"]
__all__ += ["c"]
mod = importlib.import_module("pkg.dynamic")
rel = importlib.import_module("..up", package="a.b.c")
from importlib import import_module as load
aliased = load("pkg.aliased")
spec = importlib.util.spec_from_file_location("x", path)
match value:
    case 1:
        import in_match
'''


def test_fast_scanner_matches_the_full_parse() -> None:
    full = scan_full(TRICKY, "tricky.py")
    assert scan_fast(TRICKY, "tricky.py") == full
    seen = {(r.level, r.module, r.names, r.flags) for r in full.imports}
    assert (0, "os", None, 0) in seen and (0, "sys", None, 0) in seen
    assert (1, "", ("alpha", "beta"), 0) in seen and (2, "pkg.mod", ("*",), 0) in seen
    assert {(0, m, None, 0) for m in ("a.b.c", "d", "one_liner", "lazy", "after_success", "always",
                                      "version_branch", "runtime_only", "after_continuation", "in_match")} <= seen
    assert (0, "opt", ("thing",), OPTIONAL) in seen and (0, "fallback", ("thing",), OPTIONAL) in seen
    assert (0, "suppressed", None, OPTIONAL) in seen
    assert (0, "pkg.dynamic", None, DYNAMIC) in seen and (0, "a.b.up", None, DYNAMIC) in seen
    assert (0, "pkg.aliased", None, DYNAMIC) in seen
    modules = {r.module for r in full.imports}
    assert not modules & {"not_an_import", "neither", "fake", "inside_string", "typing_only", "also_typing_only"}
    assert full.all_names == ("a", "b", "c")
    spec_line = next(i for i, text in enumerate(TRICKY.splitlines(), 1) if "spec_from_file_location" in text)
    assert [line for line, _ in full.warnings] == [spec_line]
    assert ImportRecord(5, 0, "os", None) in full.imports


@pytest.mark.parametrize("name", ["json/decoder.py", "argparse.py", "importlib/__init__.py", "asyncio/base_events.py",
                                  "typing.py", "logging/__init__.py", "pathlib.py", "email/message.py"])  # fmt: skip
def test_fast_scanner_matches_the_full_parse_on_the_standard_library(name: str) -> None:
    path = Path(sys.modules["json"].__file__).parent.parent / name
    source = path.read_text(encoding="utf-8")
    assert scan_fast(source, name) == scan_full(source, name)


def test_parse_cache_round_trip(tmp_path: Path, forms: tuple[config.Config, DistIndex]) -> None:
    cfg, index = forms
    cache = ParseCache()
    first = compute_closures(cfg, index, cache=cache)
    assert cache.misses > 0  # (files with the same content as another, empty ones, are hits)
    cache.save(tmp_path)
    assert ParseCache.path_for(tmp_path).is_file()
    assert not [p for p in ParseCache.path_for(tmp_path).parent.iterdir() if p.suffix == ".tmp"]
    warm = ParseCache.load(tmp_path)
    assert compute_closures(cfg, index, cache=warm) == first
    assert warm.closures_reused and warm.hits == warm.misses == 0  # the whole result, stored with the scans
    (tmp_path / CLOSURES_FILE).unlink()
    warm = ParseCache.load(tmp_path)
    assert compute_closures(cfg, index, cache=warm) == first
    assert not warm.closures_reused
    assert warm.misses == 0 and warm.hits == cache.hits + cache.misses
    warm.save()  # to where it was loaded from
    assert ParseCache.load(tmp_path).hits == 0
    with pytest.raises(ValueError, match="needs the backend root"):
        ParseCache().save()
    assert ParseCache.load(tmp_path, strict=True).hits == 0  # another mode: another cache
    ParseCache.path_for(tmp_path).write_text("[1, 2")  # damaged: ignored
    assert ParseCache.load(tmp_path).hits == 0


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
    package = Path(__file__).parent.parent / "builder"
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
