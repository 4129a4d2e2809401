"""Run builder on a battery of bad inputs and write docs/reliability.md: each input, the exit code
and the message. No engine is used (DOCKER_HOST points nowhere), so the engine cases are the ones
a missing or hung engine gives; the tests hold the cases that need a real one.

    python3 scripts/bad_inputs.py          # writes docs/reliability.md (and prints a summary)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MINI = REPO / "tests" / "fixtures" / "mini"
SAM_APP = REPO / "examples" / "sam-app"
OUT = REPO / "docs" / "reliability.md"
NO_ENGINE = "unix:///nonexistent/builder-bad-inputs.sock"

Edit = Callable[[Path], None]


def replace(rel: str, old: str, new: str) -> Edit:
    """Replace the first ``old`` of the file ``rel`` with ``new``."""

    def edit(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
    return edit


def toml(old: str, new: str) -> Edit:
    return replace("builder.toml", old, new)


def top(line: str) -> Edit:
    return toml('name = "mini"\n', f'name = "mini"\n{line}\n')


def table(text: str) -> Edit:
    """A table added at the end of builder.toml (before it, it would take the keys that follow)."""

    def edit(root: Path) -> None:
        path = root / "builder.toml"
        path.write_text(path.read_text() + f"\n{text}\n")
    return edit


def hello(line: str) -> Edit:
    return toml('handler = "functions/hello/app.handler"\n', f'handler = "functions/hello/app.handler"\n{line}\n')


def write(rel: str, text: str) -> Edit:
    def edit(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return edit


def link(rel: str, target: str) -> Edit:
    return lambda root: (root / rel).symlink_to(target)


def template(old: str, new: str) -> Edit:
    return replace("template.yaml", old, new)


def uv(pyproject: str) -> Edit:
    """get-order built with uv (``BuildMethod: python-uv``) from the pyproject.toml ``pyproject``."""
    head = "  GetOrderFunction:\n    Type: AWS::Serverless::Function\n"

    def edit(root: Path) -> None:
        template(head, head + "    Metadata:\n      BuildMethod: python-uv\n")(root)
        write("src/get-order/pyproject.toml", pyproject)(root)
    return edit


def nothing(root: Path) -> None:
    pass


CLOSURE = ("closure", "--function", "hello")
FUNCTIONS = ("functions",)
# (what is wrong, the project ("mini" or "sam-app"), its edit, the command)
CASES: list[tuple[str, str, Edit, tuple[str, ...]]] = [
    # builder.toml: types, element by element
    ('source-roots = ["functions", 7]', "mini", toml('source-roots = ["functions", "shared"]', 'source-roots = ["functions", 7]'), CLOSURE),
    ("source-roots = \"functions\" (a string)", "mini", toml('source-roots = ["functions", "shared"]', 'source-roots = "functions"'), CLOSURE),
    ("source-roots = []", "mini", toml('source-roots = ["functions", "shared"]', "source-roots = []"), CLOSURE),
    ('source-roots = ["missing"]', "mini", toml('source-roots = ["functions", "shared"]', 'source-roots = ["functions", "shared", "missing"]'), CLOSURE),
    ('source-roots = ["../elsewhere"]', "mini", toml('source-roots = ["functions", "shared"]', 'source-roots = ["functions", "../elsewhere"]'), CLOSURE),
    ("platforms = [7]", "mini", top("platforms = [7]"), CLOSURE),
    ('platforms = ["macosx_11_0_arm64"]', "mini", top('platforms = ["macosx_11_0_arm64"]'), CLOSURE),
    ("platforms = []", "mini", top("platforms = []"), CLOSURE),
    ("include = [5]", "mini", hello("include = [5]"), CLOSURE),
    ('include = ["../secret.txt"]', "mini", hello('include = ["../secret.txt"]'), CLOSURE),
    ('include = ["/etc/passwd"]', "mini", hello('include = ["/etc/passwd"]'), CLOSURE),
    ('include = ["nothing/*.txt"] (matches nothing)', "mini", hello('include = ["nothing/*.txt"]'), CLOSURE),
    ('include = ["[unclosed"]', "mini", hello('include = ["[unclosed"]'), CLOSURE),
    ("exclude-modules = [{a=1}]", "mini", hello("exclude-modules = [{a=1}]"), CLOSURE),
    ('exclude-modules = ""', "mini", hello('exclude-modules = ""'), CLOSURE),
    ("keep = [1]", "mini", hello("keep = [1]"), CLOSURE),
    ('keep = ["no.such.module"]', "mini", hello('keep = ["no.such.module"]'), CLOSURE),
    ('python-version = "abc"', "mini", top('python-version = "abc"'), CLOSURE),
    ('python-version = "3.99"', "mini", top('python-version = "3.99"'), CLOSURE),
    ("python-version = 3.11 (a number)", "mini", top("python-version = 3.11"), CLOSURE),
    ('python-version = "2.7"', "mini", top('python-version = "2.7"'), CLOSURE),
    ("name = 5", "mini", toml('name = "mini"', "name = 5"), CLOSURE),
    ('name = "Bad Name!"', "mini", toml('name = "mini"', 'name = "Bad Name!"'), CLOSURE),
    ('images = "two"', "mini", top('images = "two"'), CLOSURE),
    ("base-image = 1", "mini", toml('base-image = "builder-lambda-python:3.11"', "base-image = 1"), CLOSURE),
    ('lock-file = "missing.txt"', "mini", top('lock-file = "missing.txt"'), CLOSURE),
    ("templates = [1]", "mini", top("templates = [1]"), CLOSURE),
    ('templates = ["missing.yaml"]', "mini", top('templates = ["missing.yaml"]'), CLOSURE),
    ("an unknown key (colour)", "mini", top('colour = "blue"'), CLOSURE),
    ("a misspelt key (sources-roots)", "mini", top('sources-roots = ["functions"]'), CLOSURE),
    ('[functions.hello] architecture = "graviton"', "mini", hello('architecture = "graviton"'), CLOSURE),
    ("[functions.hello] handler = 5", "mini", toml('handler = "functions/hello/app.handler"', "handler = 5"), CLOSURE),
    ('handler = "nodot"', "mini", toml('handler = "functions/hello/app.handler"', 'handler = "nodot"'), CLOSURE),
    ('handler = "functions/missing.handler"', "mini", toml('handler = "functions/hello/app.handler"', 'handler = "functions/missing.handler"'), CLOSURE),
    ('handler = "functions/hello/app.nope"', "mini", toml('handler = "functions/hello/app.handler"', 'handler = "functions/hello/app.nope"'), CLOSURE),
    ("a function table that is a string", "mini", table('[functions]\nbroken = "x"'), CLOSURE),
    ("[functions.Bad_Name]", "mini", table('[functions.Bad_Name]\nhandler = "functions/hello/app.handler"'), CLOSURE),
    ("event = 3", "mini", hello("event = 3"), CLOSURE),
    ("[strip] defaults = \"no\"", "mini", table('[strip]\ndefaults = "no"'), CLOSURE),
    ("[strip] patterns = [1]", "mini", table("[strip]\npatterns = [1]"), CLOSURE),
    ("[strip.per-dist] numpy = \"x\"", "mini", table('[strip.per-dist]\nnumpy = "x"'), CLOSURE),
    ("[check] tolerance = \"5%\"", "mini", table('[check]\ntolerance = "5%"'), CLOSURE),
    ("[check] tolerance = -1", "mini", table("[check]\ntolerance = -1"), CLOSURE),
    ("[check] max-function-bytes = 0", "mini", table("[check]\nmax-function-bytes = 0"), CLOSURE),
    ("TOML syntax error", "mini", top("name = = 1"), CLOSURE),
    ("a duplicate key", "mini", top('name = "again"'), CLOSURE),
    ("builder.toml not UTF-8", "mini", lambda root: (root / "builder.toml").write_bytes(b'name = "\xff"\n'), CLOSURE),
    ("builder.toml is a folder", "mini", lambda root: ((root / "builder.toml").unlink(), (root / "builder.toml").mkdir()), CLOSURE),
    ("no builder.toml and no template", "mini", lambda root: (root / "builder.toml").unlink(), CLOSURE),
    # sources
    ("a symbolic-link loop in a source root (a -> b, b -> a)", "mini", lambda root: (link("functions/a", "b")(root), link("functions/b", "a")(root)), CLOSURE),
    ("a link to a folder above it", "mini", link("functions/hello/up", ".."), CLOSURE),
    ("a handler with a syntax error where nothing is imported", "mini", write("functions/hello/app.py", "import json\n\ndef handler(event, context):\n    return {1: }\n"), CLOSURE),
    ("a handler that is not valid Python at all", "mini", write("functions/hello/app.py", "def handler(:\n"), CLOSURE),
    ("a handler in Latin-1 without a coding cookie", "mini", lambda root: (root / "functions/hello/app.py").write_bytes(b"X = '\xe9'\ndef handler(e, c):\n    return X\n"), CLOSURE),
    ("an import nothing provides", "mini", write("functions/hello/app.py", "import nonexistent_pkg\n\ndef handler(e, c):\n    return 1\n"), CLOSURE),
    ("a relative import beyond the top package", "mini", write("functions/hello/app.py", "from .... import x\n\ndef handler(e, c):\n    return 1\n"), CLOSURE),
    ("an unreadable module", "mini", lambda root: (root / "shared/util.py").chmod(0), CLOSURE),
    ("a dynamic import of a computed name", "mini", write("functions/hello/app.py", "import importlib\nm = importlib.import_module('x' + 'y')\n\ndef handler(e, c):\n    return 1\n"), CLOSURE),
    # the lock
    ("a lock line that is not a pin (numpy>=2)", "mini", write("requirements/functions.txt", "numpy>=2\n"), CLOSURE),
    ("a lock pinned to a URL", "mini", write("requirements/functions.txt", "numpy @ https://example.com/numpy.whl\n"), CLOSURE),
    ("an editable requirement in the lock", "mini", write("requirements/functions.txt", "-e ./lib\n"), CLOSURE),
    ("an unknown lock option", "mini", write("requirements/functions.txt", "--frobnicate\nnumpy==2.2.6\n"), CLOSURE),
    ("a lock that includes itself", "mini", write("requirements/functions.txt", "-r functions.txt\n"), CLOSURE),
    ("a lock pinning a name twice", "mini", write("requirements/functions.txt", "numpy==2.2.6\nnumpy==2.2.5\n"), CLOSURE),
    ("a lock with a broken marker", "mini", write("requirements/functions.txt", 'numpy==2.2.6 ; python_version <\n'), CLOSURE),
    ("a version that has no wheel (numpy==0.0.1)", "mini", write("requirements/functions.txt", "numpy==0.0.1\n"), CLOSURE),
    ("a lock that is not UTF-8", "mini", lambda root: (root / "requirements/functions.txt").write_bytes(b"numpy==2.2.6 # \xff\n"), CLOSURE),
    ("the lock is missing", "mini", lambda root: (root / "requirements/functions.txt").unlink(), CLOSURE),
    # SAM templates (examples/sam-app, no builder.toml)
    ("YAML syntax error", "sam-app", template("Resources:\n", "Resources:\n  : :\n"), FUNCTIONS),
    ("a duplicate resource", "sam-app", template("  OrdersTable:\n", "  OrdersApi:\n    Type: AWS::Serverless::Api\n  OrdersTable:\n"), FUNCTIONS),
    ("a tag on a mapping key (!Ref A: 1)", "sam-app", template("Resources:\n", "!Ref Bad: 1\nResources:\n"), FUNCTIONS),
    ("no Resources", "sam-app", template("Resources:\n", "NotResources:\n"), FUNCTIONS),
    ("Resources is a list", "sam-app", lambda root: (root / "template.yaml").write_text("Resources:\n  - a\n"), FUNCTIONS),
    ("a template that is a YAML list", "sam-app", lambda root: (root / "template.yaml").write_text("- 1\n- 2\n"), FUNCTIONS),
    ("an empty template", "sam-app", lambda root: (root / "template.yaml").write_text(""), FUNCTIONS),
    ("a CodeUri folder that does not exist", "sam-app", template("CodeUri: src/get-order/", "CodeUri: src/gone/"), FUNCTIONS),
    ("a Handler without a dot", "sam-app", template("Handler: app.lambda_handler\n      Layers:\n        - !Ref CommonLayer\n      Policies", "Handler: app\n      Layers:\n        - !Ref CommonLayer\n      Policies"), FUNCTIONS),
    ("a Handler outside its CodeUri", "sam-app", template("Handler: app.lambda_handler\n      Layers:\n        - !Ref CommonLayer\n      Policies", "Handler: ../app.lambda_handler\n      Layers:\n        - !Ref CommonLayer\n      Policies"), FUNCTIONS),
    ("Runtime python3.99", "sam-app", template("    Runtime: python3.11\n    Timeout: 10", "    Runtime: python3.99\n    Timeout: 10"), FUNCTIONS),
    ("Architectures [arm32]", "sam-app", template("    Architectures:\n      - x86_64\n", "    Architectures:\n      - arm32\n"), FUNCTIONS),
    ("Architectures in Globals and a function (SAM appends them)", "sam-app",
     template("      Handler: app.lambda_handler\n", "      Handler: app.lambda_handler\n      Architectures: [arm64]\n"), FUNCTIONS),
    ("a layer folder that does not exist", "sam-app", template("ContentUri: layers/common/", "ContentUri: layers/gone/"), FUNCTIONS),
    ("Layers naming a resource that is not a layer", "sam-app", template("        - !Ref CommonLayer\n      Policies", "        - !Ref OrdersTable\n      Policies"), FUNCTIONS),
    ("a python-uv function's pyproject.toml with Poetry's table only", "sam-app",
     uv('[tool.poetry.dependencies]\npython = "^3.11"\n'), ("closure", "--function", "get-order")),
    ("a python-uv function's pyproject.toml with dynamic dependencies", "sam-app",
     uv('[project]\nname = "get-order"\ndynamic = ["dependencies"]\n'), ("closure", "--function", "get-order")),
    ("a python-uv function's pyproject.toml that is not TOML", "sam-app", uv("[project\n"), ("closure", "--function", "get-order")),
    ("a requirements.txt naming a local project that is not there", "sam-app",
     write("src/search-orders/requirements.txt", "jmespath==1.0.1\n../libs/search-lib/\n"), ("lock",)),
    ("a requirements.txt naming a folder that is not a project", "sam-app",
     write("src/search-orders/requirements.txt", "jmespath==1.0.1\n./src/get-order/data/\n"), ("lock",)),
    ("a python-uv dependency uv takes from git", "sam-app",
     uv('[project]\nname = "get-order"\ndependencies = ["orders-lib"]\n\n[tool.uv.sources]\n'
        'orders-lib = { git = "https://github.com/example/orders-lib", tag = "v2" }\n'), ("lock",)),
    ("samconfig.toml with a TOML error", "sam-app", write("samconfig.toml", "version = = 0.1\n"), FUNCTIONS),
    ("a --template that does not exist", "sam-app", nothing, ("--template", "missing.yaml", "functions")),
    ("a function that is not in the template", "sam-app", nothing, ("closure", "--function", "nope")),
    ("a function close to a real one (get-ordr)", "sam-app", nothing, ("closure", "--function", "get-ordr")),
    ("the Node.js function, which builder leaves alone", "sam-app", nothing, ("closure", "--function", "notify-node")),
    # command lines
    ("build --all --function hello", "mini", nothing, ("build", "--all", "--function", "hello")),
    ("build with neither --function nor --all", "mini", nothing, ("build",)),
    ("build --jobs 0", "mini", nothing, ("build", "--all", "--jobs", "0")),
    ("build --jobs two", "mini", nothing, ("build", "--all", "--jobs", "two")),
    ("build --tag 'Bad Tag!'", "mini", nothing, ("build", "--function", "hello", "--tag", "Bad Tag!")),
    ("build --tag -starts-with-dash", "mini", nothing, ("build", "--function", "hello", "--tag=-x")),
    ("push --all --function hello", "mini", nothing, ("push", "--all", "--function", "hello", "--repository", "127.0.0.1:5000/x")),
    ("push --repository with a scheme", "mini", nothing, ("push", "--all", "--repository", "https://127.0.0.1:5000/x")),
    ("push --repository with a tag", "mini", nothing, ("push", "--all", "--repository", "127.0.0.1:5000/x:v1")),
    ("push --repository with upper case", "mini", nothing, ("push", "--all", "--repository", "127.0.0.1:5000/Shop")),
    ("push --repository with a digest", "mini", nothing, ("push", "--all", "--repository", "127.0.0.1:5000/x@sha256:" + "a" * 64)),
    ("push without --repository", "mini", nothing, ("push", "--all")),
    ("invoke --memory 64", "mini", write("e.json", "{}"), ("invoke", "--function", "hello", "--memory", "64", "--event", "e.json")),
    ("invoke --timeout 901", "mini", write("e.json", "{}"), ("invoke", "--function", "hello", "--timeout", "901", "--event", "e.json")),
    ("invoke --port 70000", "mini", write("e.json", "{}"), ("invoke", "--function", "hello", "--port", "70000", "--event", "e.json")),
    ("invoke --event missing.json", "mini", nothing, ("invoke", "--function", "hello", "--event", "missing.json")),
    ("invoke --event that is not JSON", "mini", write("bad.json", "{not json"), ("invoke", "--function", "hello", "--event", "bad.json")),
    ("invoke --env NOEQUALS", "mini", write("e.json", "{}"), ("invoke", "--function", "hello", "--env", "NOEQUALS", "--event", "e.json")),
    ("report with neither --function nor --all", "mini", nothing, ("report",)),
    ("check with a corrupt baseline", "mini", write("sizes.json", "{"), ("check", "--function", "hello")),
    ("check with no baseline", "mini", nothing, ("check", "--function", "hello")),
    ("migrate with no template", "mini", nothing, ("migrate", "--all")),
    ("migrate --rollback --remove-unused-layers", "sam-app", nothing, ("migrate", "--rollback", "--all", "--remove-unused-layers")),
    ("migrate --rollback of a ZIP function", "sam-app", nothing, ("migrate", "--rollback", "--function", "GetOrderFunction")),
    ("migrate --function that is a table", "sam-app", nothing, ("migrate", "--function", "OrdersTable", "--dry-run")),
    ("migrate --pin with a malformed image-uris.json", "sam-app", write("image-uris.json", "{bad"), ("migrate", "--pin")),
    ("migrate --pin with no image-uris.json", "sam-app", nothing, ("migrate", "--pin")),
    ("ci without --github", "mini", nothing, ("ci",)),
    ("ci --output into a FIFO", "mini", lambda root: os.mkfifo(root / "out.fifo"), ("ci", "--github", "--output", "out.fifo")),
    ("an unknown command", "mini", nothing, ("frobnicate",)),
    ("SOURCE_DATE_EPOCH=soon", "mini", nothing, ("build", "--function", "hello")),
    # the engine
    ("no engine (DOCKER_HOST points nowhere)", "mini", nothing, ("build", "--function", "hello")),
    ("an engine that accepts and never answers", "mini", nothing, ("build", "--function", "hello")),
]
ENV = {"SOURCE_DATE_EPOCH=soon": {"SOURCE_DATE_EPOCH": "soon"}}


def prepared(kind: str, work: Path) -> Path:
    """A copy of the project with its wheels, made once (the first one downloads them)."""
    ready = work / f"ready-{kind}"
    if not ready.exists():
        source = MINI if kind == "mini" else SAM_APP
        shutil.copytree(source, ready, ignore=shutil.ignore_patterns(".builder", "__pycache__", ".aws-sam"))
        env = {**os.environ, "PYTHONPATH": str(REPO), "DOCKER_HOST": NO_ENGINE}
        args = CLOSURE if kind == "mini" else ("closure", "--function", "get-order")
        subprocess.run([sys.executable, "-m", "builder", *args], cwd=ready, env=env, capture_output=True, check=True)
    return ready


def hung_engine(folder: Path) -> str:
    """A socket that accepts and never answers."""
    path = folder / "hung.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen(16)
    threading.Thread(target=lambda: [server.accept() for _ in iter(int, 1)], daemon=True).start()
    return f"unix://{path}"


def run(work: Path, hung: str, n: int, case: tuple[str, str, Edit, tuple[str, ...]]) -> tuple[int, str]:
    what, kind, edit, argv = case
    root = work / f"case-{n}"
    shutil.copytree(prepared(kind, work), root, symlinks=True)
    edit(root)
    env = {**os.environ, "PYTHONPATH": str(REPO), "DOCKER_HOST": hung if "never answers" in what else NO_ENGINE,
           **ENV.get(what, {})}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "builder", *argv], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.startswith(("error:", "warning", "  "))] or done.stderr.splitlines()
    error = next((line for line in lines if line.startswith("error:")), "")
    message = error or (lines[-1] if lines else done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "")
    message = message.replace(str(root), "<copy>").replace(str(work), "<work>")
    if "Traceback" in done.stderr:
        message = "TRACEBACK: " + done.stderr.strip().splitlines()[-1]
    return done.returncode, message


def cell(text: str) -> str:
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 220 else text[:217] + "..."


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bad-inputs-"))
    hung = hung_engine(work)
    rows, tracebacks = [], 0
    try:
        for n, case in enumerate(CASES, 1):
            code, message = run(work, hung, n, case)
            tracebacks += message.startswith("TRACEBACK")
            rows.append(f"| {n} | {cell(case[0])} | `{cell(' '.join(case[3]))}` | {code} | {cell(message)} |")
            print(f"{n:3d} exit {code:3d}  {case[0]}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = f"""# Reliability: bad inputs and what builder says

`python3 scripts/bad_inputs.py` runs builder (`python -m builder`, no engine: `DOCKER_HOST` points
nowhere, or at a socket that never answers) on {len(CASES)} bad inputs, each on a fresh copy of a small
backend (`tests/fixtures/mini`, builder's own layout) or of `examples/sam-app` (SAM's layout, no
builder.toml), and writes this page. Exit codes: 2 configuration or usage, 3 engine, 4 build,
5 analysis or lock, 6 template, 7 invoke, 8 registry, 9 size check, 130 interrupted; 0 is a run
that went on with a warning. Every message is one paragraph that says what to do; a row starting
TRACEBACK would be a bug (this run: {tracebacks}).

The cases that need a real engine (a port in use, `--keep-warm` across projects and rebuilds, a
wheel changed after its download, a signal to builder alone, a failed push) are acceptance tests
(`tests/acceptance/test_errors.py`, `test_push.py`), and the generated inputs are property-based
tests (`tests/unit/test_fuzz.py`).

| # | input | command | exit | message |
|---:|---|---|---:|---|
""" + "\n".join(rows) + "\n"
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}: {len(CASES)} inputs, {tracebacks} tracebacks")
    return 1 if tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
