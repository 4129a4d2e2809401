"""The guide's shape: ONE image that holds every function, each choosing its handler with
``ImageConfig.Command``.

Pure: derived from the build plan. Where all functions share one code folder (builder's
own layout, or a template whose functions all have ``CodeUri: ./``) and one version of each
distribution, the image is the union of the per-function images and a function's command is
its handler, as the template has it. Otherwise each function's code folder goes to
``/var/task/<its path>`` and a small generated module, ``builder_functions/<name>.py``, puts
that folder and the function's own distributions first on ``sys.path``, makes it the working
directory, and imports the handler: the command is ``builder_functions/<name>.handler``, and
one function's ``utils.py`` or ``jmespath`` never shadows another's.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from ..core.limits import TASK_ROOT
from ..core.paths import DISPATCH_DIR
from ..project.model import DISPATCH_PACKAGE
from .plan import DEPS_ROOT, BuildPlan, FunctionPlan, owner, python_path


@dataclass(frozen=True)
class OneImage:
    """What the all-functions image holds and how each function is started in it."""

    files: tuple[tuple[str, str], ...]  # (file in the build context, path in the image), by image path
    commands: tuple[tuple[str, str], ...]  # (function, ImageConfig.Command), by function
    dispatchers: tuple[tuple[str, str], ...]  # (file in the build context, its text) to write first
    groups: tuple[str, ...]  # every dependency group, most shared first
    pythonpath: str

    def command(self, function: str) -> str:
        return dict(self.commands)[function]


def _dispatcher(fn: FunctionPlan, folder: str, paths: list[str]) -> str:
    module, attribute = fn.handler.rsplit(".", 1)
    return (
        f'"""builder\'s one image: runs {fn.name} ({fn.handler}) from {folder}, as Lambda runs its own image."""\n\n'
        "import importlib\nimport os\nimport sys\n\n"
        f"sys.path[:0] = {paths!r}\n"
        f"os.chdir({folder!r})\n"
        f"handler = getattr(importlib.import_module({module.replace('/', '.')!r}), {attribute!r})\n"
    )


def plan(build_plan: BuildPlan) -> OneImage:
    """The one image of ``build_plan``'s functions."""
    functions, shared = build_plan.functions, build_plan.one_image_shared
    files: dict[str, str] = {}
    commands, dispatchers = [], []
    for fn in functions:
        code = fn.roots[0]
        folder = TASK_ROOT if shared else posixpath.join(TASK_ROOT, code.path)
        for rel in (*fn.shared_files, *fn.own_files):
            image = fn.image_path(rel)
            if not shared and owner(fn.roots, rel) is code:
                image = posixpath.join(folder, image[len(code.dest) + 1 :])
            files[image] = fn.source(rel)
        if shared:
            commands.append((fn.name, fn.handler))
            continue
        module = fn.name.replace("-", "_")
        source = f"{DISPATCH_DIR}/{DISPATCH_PACKAGE}/{module}.py"
        paths = [folder, *python_path(fn.roots)[1:], *(f"{DEPS_ROOT}/{g}" for g in fn.groups)]
        dispatchers.append((source, _dispatcher(fn, folder, paths)))
        files[f"{TASK_ROOT}/{DISPATCH_PACKAGE}/{module}.py"] = source
        commands.append((fn.name, f"{DISPATCH_PACKAGE}/{module}.handler"))
    groups = tuple(g.name for g in build_plan.groups)
    layer_paths = dict.fromkeys(path for fn in functions for path in python_path(fn.roots)[1:])
    pythonpath = ":".join([TASK_ROOT, *layer_paths, *(f"{DEPS_ROOT}/{g}" for g in groups)])
    return OneImage(
        files=tuple(sorted(((source, image) for image, source in files.items()), key=lambda pair: pair[1])),
        commands=tuple(sorted(commands)),
        dispatchers=tuple(sorted(dispatchers)),
        groups=groups,
        pythonpath=pythonpath,
    )
