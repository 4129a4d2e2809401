"""Per-function closures on fixture backends: every import form, each closure asserted exactly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from builder.analysis.closure import compute_closure, compute_closures, unused_distributions
from builder.analysis.parse_cache import CLOSURES_FILE, PARALLEL_MIN, ParseCache
from builder.analysis.records import Closure, Reason
from builder.analysis.render import closure_to_json, closures_to_json, render_tree, render_unused, unused_to_json
from builder.core.errors import AnalysisError, LockError
from builder.deps.dists import DistIndex, parse_lock
from builder.deps.target import Target
from builder.project import config
from tests.helpers import FIXTURES
from tests.unit.fakes import HANDLER, backend, files, make_wheel

FORMS = FIXTURES / "closure" / "forms"


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
    # The same closures asked for in another order give the same document, byte for byte.
    shuffled = dict(reversed(closures.items()))
    assert json.dumps(closures_to_json(shuffled)) == json.dumps(closures_to_json(closures))
    assert [f["function"]["name"] for f in closures_to_json(closures)["functions"]] == sorted(closures)
    assert str(FORMS) not in json.dumps(closures_to_json(closures))  # no absolute paths


# --- errors -------------------------------------------------------------------------------------


def closure_of(cfg: config.Config, tmp_path: Path) -> Closure:
    house = tmp_path / "wheels"
    if not house.exists():
        make_wheel(house, "six", "1.16.0", {"six.py": 30})
    index = DistIndex.from_wheelhouse(house, parse_lock(cfg.lock_path))
    return compute_closure(cfg, cfg.function("app"), index)




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


def test_a_syntax_error_where_nothing_is_imported_is_found_with_its_line_before_any_build(tmp_path: Path) -> None:
    """The fast scan reads only statements that can import; every shipped file is still parsed whole."""
    cfg = backend(tmp_path, {"functions/app.py": "import shared.util\n" + HANDLER,
                             "shared/util.py": "X = 1\n\n\ndef f():\n    return {1: }\n"})  # fmt: skip
    with pytest.raises(AnalysisError, match=r"^shared/util.py:5: syntax error: .*Fix it"):
        closure_of(cfg, tmp_path)
    house = tmp_path / "wheels"
    index = DistIndex.from_wheelhouse(house, parse_lock(cfg.lock_path))
    with pytest.raises(AnalysisError, match=r"^shared/util.py:5: syntax error"):
        compute_closures(cfg, index)
    (tmp_path / "shared/util.py").write_text("X = 1\n")
    assert "shared/util.py" in files(closure_of(cfg, tmp_path))


def test_many_files_are_checked_by_worker_processes_and_errors_keep_their_function_and_line(tmp_path: Path) -> None:
    """Past PARALLEL_MIN files the check runs in worker processes (on a machine with two cores or
    more); what they find is the same one-paragraph error, for the function that ships the file,
    and the symbol table's errors count too (a duplicate argument parses, but does not compile)."""
    count = PARALLEL_MIN + 20
    sources = {f"shared/m{i}.py": f"X{i} = {i}\n" for i in range(count)}
    sources["shared/m7.py"] = "X = 1\n\n\ndef f(a, a):\n    return a\n"
    sources["functions/app.py"] = "".join(f"import shared.m{i}\n" for i in range(count)) + HANDLER
    sources["functions/other.py"] = "import shared.m1\n" + HANDLER
    backend(tmp_path, sources)
    with (tmp_path / "builder.toml").open("a") as fh:
        fh.write('[functions.other]\nhandler = "functions/other.handler"\n')
    cfg = config.load(tmp_path)
    make_wheel(tmp_path / "wheels", "six", "1.16.0", {"six.py": 30})
    index = DistIndex.from_wheelhouse(tmp_path / "wheels", parse_lock(cfg.lock_path))
    errors: dict[str, AnalysisError] = {}
    closures = compute_closures(cfg, index, errors=errors)
    assert list(closures) == ["other"]
    assert re.match(r"^shared/m7.py:4: syntax error: duplicate argument 'a' in function definition\. Fix it",
                    str(errors["app"]))  # fmt: skip


def test_check_many_finds_the_errors_in_worker_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    keys = [f"m{i}.py" for i in range(PARALLEL_MIN)]
    for key in keys:
        (tmp_path / key).write_text("X = 1\n")
    (tmp_path / "m3.py").write_text("def f(:\n    pass\n")
    cache = ParseCache()
    cache.check_many((str(tmp_path), key) for key in keys)
    (tmp_path / "m3.py").unlink()  # what check_syntax raises now comes from the workers
    with pytest.raises(AnalysisError, match=r"^m3.py:1: syntax error"):
        cache.check_syntax(str(tmp_path), "m3.py")


@pytest.mark.parametrize("links", [{"shared/a": "b", "shared/b": "a"}, {"shared/x.py": "y.py", "shared/y.py": "x.py"}])
def test_a_loop_of_symbolic_links_is_reported_with_what_to_do(tmp_path: Path, links: dict[str, str]) -> None:
    cfg = backend(tmp_path, {"functions/app.py": HANDLER})
    for link, target in links.items():
        (tmp_path / link).symlink_to(target)
    with pytest.raises(AnalysisError, match=r"^shared/[abxy.py]+ is a loop of symbolic links .*Remove the link"):
        closure_of(cfg, tmp_path)


def test_an_include_that_matches_nothing_is_a_warning(tmp_path: Path) -> None:
    cfg = backend(tmp_path, {"functions/app.py": HANDLER})
    cfg = config.load(tmp_path, functions=(config.FunctionConfig("app", "functions/app.handler",
                                                                 include=("templates/*.txt",)),))  # fmt: skip
    closure = closure_of(cfg, tmp_path)
    assert [w.message for w in closure.warnings] == ["include 'templates/*.txt' matches no file"]


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
