"""botocore's service models per function: the client calls found, the setting, the plan's layers."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from builder.analysis import aws_services
from builder.analysis.closure import compute_closures
from builder.core.errors import ConfigError
from builder.core.paths import WHEELHOUSE
from builder.deps.dists import DistIndex, parse_lock
from builder.deps.target import Target
from builder.image import dockerfile, plan
from builder.image.plan import LockedDist, Needs
from builder.project import config
from tests.unit.fakes import backend, make_wheel

LOCK = "awstools==1.0\nboto3==1.0\nbotocore==1.0\n"
MODELS = ("dynamodb", "s3", "sqs", "ssm", "sts")


@pytest.mark.parametrize(("source", "found"), [
    ('import boto3\nboto3.client("s3")\n', [("s3", 2)]),
    ('import boto3\nt = boto3.resource("dynamodb", region_name="eu-west-1")\n', [("dynamodb", 2)]),
    ('import boto3\nboto3.Session(profile_name="p").client(service_name="sqs")\n', [("sqs", 2)]),
    ('import botocore.session\nbotocore.session.get_session().create_client("ssm")\n', [("ssm", 2)]),
    ('from boto3 import client\nclient("s3")\n', [("s3", 2)]),
    ('import boto3, os\nboto3.client(os.environ["SERVICE"])\n', [("", 2)]),
    ('import boto3\nboto3.client(**{"service_name": "s3"})\n', [("", 2)]),
    ("def make(session, name):\n    return session.create_client(name)\n", [("", 2)]),
    # The method taken without a call: its calls cannot be read.
    ('import boto3\nmake = boto3.client\nmake("s3")\n', [("", 2)]),
    ('import boto3\nmake = boto3.Session().resource\n', [("", 2)]),
    # botocore's module botocore.client, not a method (aws-xray-sdk's patch): nothing to find.
    ('import botocore.client\nif not hasattr(botocore.client, "_x"):\n    setattr(botocore.client, "_x", 1)\n', []),
    ("import botocore.client\nclass Traced(botocore.client.BaseClient):\n    pass\n", []),
    # A client already made, used: nothing to find.
    ('import boto3\nclass S:\n    def get(self):\n        return self.client.get_object(Bucket="b")\n', []),
    # Not AWS's: a .client(x) in a file that imports neither boto3 nor botocore.
    ("def get(pool, request):\n    return pool.client(request)\n", []),
    ('import boto3\n"""boto3.client("sqs") in a docstring is no call"""\nboto3.client()\n', []),
    ("import boto3\nboto3.client('s3'\n", []),  # does not parse: no calls
])
def test_client_calls_are_found_with_their_service_or_as_not_literal(source, found):
    assert aws_services.scan_source(source.encode()) == found


def _wheels(folder: Path) -> None:
    files = {f"botocore/data/{s}/2020-01-01/service-2.json.gz": 1000 for s in MODELS}
    files.update({"botocore/__init__.py": 10, "botocore/data/endpoints.json": 500, "botocore/data/partitions.json": 50})
    make_wheel(folder, "botocore", "1.0", files)
    make_wheel(folder, "boto3", "1.0", {"boto3/__init__.py": 10}, requires=("botocore",))
    tools = make_wheel(folder, "awstools", "1.0", {"awstools/__init__.py": 0}, requires=("boto3",))
    with zipfile.ZipFile(tools, "a") as zf:  # third-party code that makes a client
        zf.writestr("awstools/params.py", 'import boto3\n\n\ndef ssm():\n    return boto3.client("ssm")\n')


def _analyse(tmp_path: Path, handler: str, toml: str = "") -> tuple[config.Config, dict[str, aws_services.AwsServices]]:
    root = tmp_path / "backend"
    backend(root, {"functions/app.py": handler}, lock=LOCK)
    if toml:
        (root / "builder.toml").write_text(toml)
    _wheels(root / WHEELHOUSE)
    cfg = config.load(root)
    index = DistIndex.from_wheelhouse(root / WHEELHOUSE, parse_lock(cfg.lock_path, target=Target("3.11")))
    closures = compute_closures(cfg, index, target=Target("3.11"))
    return cfg, aws_services.compute(cfg, closures, {cfg.lock_file: index})


HANDLER = 'import boto3\nimport awstools\n\nTABLE = boto3.resource("dynamodb")\n\n\ndef handler(event, context):\n    return 1\n'
TOML = 'name = "t"\n{top}[functions.app]\nhandler = "functions/app.handler"\n{fn}'


def test_a_function_ships_the_models_its_code_and_its_distributions_name(tmp_path):
    _, found = _analyse(tmp_path, HANDLER)
    app = found["app"]
    assert app.services == ("dynamodb", "ssm", "sts")  # sts: the credential chain's
    assert app.source == "detected"
    assert [c.where() for c in app.calls] == ["functions/app.py:4", "awstools/params.py:5 (awstools)"]
    text = aws_services.render(app)
    assert "AWS service models: dynamodb, ssm, sts" in text
    assert "ssm  <- client call at awstools/params.py:5 (awstools)" in text
    assert aws_services.render(app, "dynamodb") == (
        "why the dynamodb model is in app:\n  dynamodb <- client call at functions/app.py:4\n")
    assert "its model is not in the image" in aws_services.render(app, "sqs")


def test_a_service_name_that_is_not_a_literal_keeps_every_model_and_says_where(tmp_path):
    source = 'import os\nimport boto3\n\nQUEUE = boto3.client(os.environ["KIND"])\n\n\ndef handler(event, context):\n    return 1\n'
    _, found = _analyse(tmp_path, source)
    assert found["app"].services is None
    assert [c.where() for c in found["app"].dynamic] == ["functions/app.py:4"]
    assert "every model  <- client call at functions/app.py:4: the service name is not a literal" in aws_services.render(
        found["app"])


def test_aws_services_in_builder_toml_replaces_the_search_per_function_and_globally(tmp_path):
    _, found = _analyse(tmp_path / "a", HANDLER, TOML.format(top='aws-services = ["s3"]\n', fn=""))
    assert (found["app"].services, found["app"].source) == (("s3", "sts"), "configured")
    _, found = _analyse(tmp_path / "b", HANDLER, TOML.format(top='aws-services = ["s3"]\n', fn='aws-services = "off"\n'))
    assert (found["app"].services, found["app"].source) == (None, "off")


def test_a_service_botocore_has_no_model_of_is_a_config_error_with_a_suggestion(tmp_path):
    with pytest.raises(ConfigError, match=r"aws-services of app names 'dynamo'.*Did you mean 'dynamodb'\?"):
        _analyse(tmp_path, HANDLER, TOML.format(top="", fn='aws-services = ["dynamo"]\n'))


@pytest.mark.parametrize("value", ["true", '"some"', '["S3 "]', "[1]", '"s3"'])
def test_a_bad_aws_services_value_is_a_config_error_that_says_what_to_write(tmp_path, value):
    root = tmp_path / "backend"
    backend(root, {"functions/app.py": HANDLER}, lock=LOCK)
    (root / "builder.toml").write_text(TOML.format(top="", fn=f"aws-services = {value}\n"))
    with pytest.raises(ConfigError, match=r"\[functions.app\]: aws-services must be a list of AWS service names"):
        config.load(root)


def _botocore() -> LockedDist:
    files = tuple((f"botocore/data/{s}/2020-01-01/service-2.json.gz", 1000) for s in MODELS)
    files += (("botocore/__init__.py", 10), ("botocore/data/endpoints.json", 500))
    return LockedDist("botocore", "1.0", 5510, files, "botocore-1.0-py3-none-any.whl")


def test_functions_with_the_same_services_share_one_models_layer_and_botocore_loses_its_models(tmp_path):
    root = tmp_path / "backend"
    cfg = backend(root, {"functions/app.py": HANDLER}, lock=LOCK)
    fns = tuple(config.FunctionConfig(name, f"functions/{name}.handler") for name in ("a", "b", "c"))
    cfg = config.load(root, functions=fns)
    dists = {"botocore==1.0": _botocore()}
    needs = {name: Needs(frozenset(dists), (f"functions/{name}.py",)) for name in ("a", "b", "c")}
    services = {"a": ("botocore==1.0", ("s3", "sts")), "b": ("botocore==1.0", ("s3", "sts")),
                "c": ("botocore==1.0", None)}  # fmt: skip
    p = plan.make_plan(cfg, needs, dists, services=services)
    assert [(m.name, m.services, m.functions, m.size) for m in p.models] == [
        ("aws-s3-sts", ("s3", "sts"), ("a", "b"), 2000), ("aws-all", None, ("c",), 5000)]
    assert {f.name: f.models for f in p.functions} == {"a": "aws-s3-sts", "b": "aws-s3-sts", "c": "aws-all"}
    (group,) = p.groups
    assert group.strip.paths == tuple(f"botocore/data/{s}" for s in MODELS)  # endpoints.json stays
    text = dockerfile.render(p)
    assert "FROM ${BASE_IMAGE} AS models-aws-s3-sts" in text
    assert "    python3 /stage/stage.py models /opt/aws-models/aws-s3-sts" in text
    assert text.count("COPY --from=models-aws-s3-sts /out/ /") == 3  # a, b and the one image
    assert "ENV AWS_DATA_PATH=/opt/aws-models/aws-all\n" in text
    assert 'ENV AWS_DATA_PATH="/opt/aws-models/aws-s3-sts:/opt/aws-models/aws-all"' in text  # the one image
    files = dockerfile.group_files(p)
    assert files[".builder/groups/.models/aws-s3-sts/services.txt"] == "s3\nsts\n"
    assert files[".builder/groups/.models/aws-all/services.txt"] == "*\n"


def _boto3() -> LockedDist:
    files = tuple((f"boto3/data/{s}/2020-01-01/resources-1.json", 100) for s in ("s3", "sqs"))
    return LockedDist("boto3", "1.0", 210, (*files, ("boto3/__init__.py", 10)), "boto3-1.0-py3-none-any.whl")


def test_boto3_resource_models_go_with_the_models_and_botocore_json_is_compressed_when_it_reads_gzip(tmp_path):
    """boto3's resource models of the services found join botocore's in the models layer (one
    loader searches AWS_DATA_PATH first); a botocore that ships .json.gz models reads the
    rest of its JSON data compressed too."""
    cfg = backend(tmp_path / "backend", {"functions/app.py": HANDLER}, lock=LOCK)
    cfg = config.load(cfg.root, functions=tuple(config.FunctionConfig(n, f"functions/{n}.handler") for n in "ab"))
    dists = {"botocore==1.0": _botocore(), "boto3==1.0": _boto3()}
    needs = {"a": Needs(frozenset(dists), ("functions/a.py",)), "b": Needs(frozenset({"botocore==1.0"}), ("functions/b.py",))}
    p = plan.make_plan(cfg, needs, dists, services={"a": ("botocore==1.0", ("s3",)), "b": ("botocore==1.0", ("s3",))})
    (with_boto3,) = p.models  # b has botocore alone: it shares a's layer
    assert with_boto3.functions == ("a", "b") and with_boto3.resources == dists["boto3==1.0"]
    assert with_boto3.size == 1100 and with_boto3.gzip
    boto3_group = next(g for g in p.groups if any(d.name == "boto3" for d in g.dists))
    assert boto3_group.strip.paths == ("boto3/data",)  # every service folder: the whole folder goes
    files = dockerfile.group_files(p)
    folder = f".builder/groups/.models/{with_boto3.name}"
    assert files[f"{folder}/pins.txt"] == "botocore==1.0\nboto3==1.0\n" and files[f"{folder}/gzip.txt"] == "*/*/*.json\n"
    assert f"{folder}/boto3-1.0-py3-none-any.whl" in dockerfile.group_wheels(p)
    botocore_group = next(g for g in p.groups if any(d.name == "botocore" for d in g.dists))
    assert botocore_group.gzip == ("botocore/data/*.json",)
    assert files[f".builder/groups/{botocore_group.name}/gzip.txt"] == "botocore/data/*.json\n"
    # a botocore whose wheel has no .json.gz file: its loader may not read them, nothing is compressed
    plain = LockedDist("botocore", "1.0", 510, (("botocore/__init__.py", 10), ("botocore/data/s3/1/service-2.json", 500)),
                       "botocore-1.0-py3-none-any.whl")  # fmt: skip
    p = plan.make_plan(cfg, needs, {**dists, "botocore==1.0": plain}, services={"a": ("botocore==1.0", ("s3",)),
                                                                              "b": ("botocore==1.0", ("s3",))})  # fmt: skip
    assert not any(m.gzip for m in p.models) and not any(g.gzip for g in p.groups)


def test_botocore_keeps_its_models_when_a_function_that_has_it_says_nothing_of_its_services(tmp_path):
    cfg = backend(tmp_path / "backend", {"functions/app.py": HANDLER}, lock=LOCK)
    cfg = config.load(cfg.root, functions=tuple(config.FunctionConfig(n, f"functions/{n}.handler") for n in "ab"))
    dists = {"botocore==1.0": _botocore()}
    needs = {name: Needs(frozenset(dists), (f"functions/{name}.py",)) for name in "ab"}
    p = plan.make_plan(cfg, needs, dists, services={"a": ("botocore==1.0", ("s3",))})
    assert p.models == () and p.groups[0].strip.paths == ()
