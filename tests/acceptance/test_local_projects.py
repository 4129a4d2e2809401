"""A requirements.txt that names local projects (``./libs/orders-lib/``, ``-e ./libs/util-lib``), folders
of the backend with their setup.py or pyproject.toml, as pip and `sam build` install them: their modules
ship as code, what they require is locked and installed, and the migrated function builds and answers
under `sam build` and `sam local invoke`."""

from __future__ import annotations

import json

import pytest

from tests.helpers import TEST_TAG, free_port, run_cli, run_sam
from tests.unit.sam_projects import project

pytestmark = pytest.mark.docker

TEMPLATE = """\
Resources:
  OrdersFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/orders/
      Handler: app.lambda_handler
      Runtime: python3.11
"""
FILES = {
    "functions/orders/app.py": "import orders_lib\nimport util\n\n\ndef lambda_handler(event, context):\n"
                               "    return {**orders_lib.describe(), 'util': util.NAME}\n",
    "functions/orders/requirements.txt": "./libs/orders-lib/\n-e ./libs/util-lib\n",
    "libs/orders-lib/setup.py": "from setuptools import find_packages, setup\n\n"
                                "setup(name='orders-lib', version='0.1.0', packages=find_packages(), install_requires=['six==1.16.0'],\n"
                                "      setup_requires=['wheel'])\n",
    "libs/orders-lib/orders_lib/__init__.py": "import six\n\n\ndef describe():\n    return {'orders_lib': True, 'six': six.__version__}\n",
    "libs/orders-lib/tests/test_orders.py": "def test_nothing():\n    pass\n",
    "libs/util-lib/pyproject.toml": '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n'
                                    '[project]\nname = "util-lib"\nversion = "1"\ndependencies = []\n',
    "libs/util-lib/src/util/__init__.py": "NAME = 'util'\n",
}  # fmt: skip


def test_local_projects_a_requirements_file_names_ship_with_what_they_require(tmp_path, base_image, docker_engine):
    root = project(tmp_path / "localapp", TEMPLATE, FILES)
    event = tmp_path / "event.json"
    event.write_text("{}")
    built = run_cli("--project", str(root), "build", "--all", "--tag", TEST_TAG)
    try:
        assert built.returncode == 0, built.stderr
        lock = (root / "builder-locks/shared.txt").read_text()
        assert "six==1.16.0" in lock and "file:" not in lock, lock  # no machine's path in a committed file
        assert "# input libs/orders-lib/setup.py sha256=" in lock and "# input libs/util-lib/pyproject.toml" in lock
        left = sorted(p.relative_to(root).as_posix() for p in (root / "libs").rglob("*") if p.is_file())
        assert left == sorted(rel for rel in FILES if rel.startswith("libs/")), left  # no egg-info, .eggs or build/
        answer = run_cli("--project", str(root), "invoke", "--function", "orders", "--tag", TEST_TAG,
                         "--port", str(free_port()), "--event", str(event))  # fmt: skip
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout) == {"orders_lib": True, "six": "1.16.0", "util": "util"}
        closure = run_cli("--project", str(root), "closure", "--function", "orders", "--json")
        assert closure.returncode == 0, closure.stderr
        files = [f["path"] for f in json.loads(closure.stdout)["local_files"]]
        assert "libs/orders-lib/orders_lib/__init__.py" in files and "libs/util-lib/src/util/__init__.py" in files
        assert not any("tests/" in f or f.endswith("setup.py") for f in files), files  # the project's modules only

        (root / "libs/orders-lib/setup.py").write_text(FILES["libs/orders-lib/setup.py"].replace("1.16.0", "1.17.0"))
        assert run_cli("--project", str(root), "lock").returncode == 0  # its setup.py changed: locked again
        assert "six==1.17.0" in (root / "builder-locks/shared.txt").read_text()

        migrated = run_cli("--project", str(root), "migrate", "--function", "OrdersFunction")
        assert migrated.returncode == 0, migrated.stderr
        sam_built = run_sam(root, "build", "OrdersFunction")
        assert sam_built.returncode == 0, sam_built.stdout[-2000:] + sam_built.stderr[-2000:]
        sam_answer = run_sam(root, "local", "invoke", "OrdersFunction", "-e", str(event), timeout=300)
        assert sam_answer.returncode == 0, sam_answer.stderr[-2000:]
        assert '{"orders_lib": true, "six": "1.17.0", "util": "util"}' in sam_answer.stdout, sam_answer.stdout
    finally:
        for image in (f"localapp-orders:{TEST_TAG}", "ordersfunction:latest", "ordersfunction:rapid-x86_64"):
            docker_engine.remove_image(image)
