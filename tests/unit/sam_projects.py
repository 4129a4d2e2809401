"""Small SAM projects written into tmp_path, shared by the SAM project tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from builder.deps.dists import DistIndex
from builder.project import config

HEADER = 'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'
GLOBALS = "Globals:\n  Function:\n    Runtime: python3.11\n    Handler: app.lambda_handler\n"  # a template's start


def project(root: Path, template: str, files: dict[str, str]) -> Path:
    """A SAM project: ``template`` (after the header) and ``files`` (path -> text)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "template.yaml").write_text(HEADER + textwrap.dedent(template))
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    return root


HANDLER = "def lambda_handler(event, context):\n    return {}\n"

# Two functions, one whose code imports a module nothing provides: the other must not be held back
# (block style, which `migrate` edits).
BROKEN_NEIGHBOUR = """\
Globals:
  Function:
    Runtime: python3.11
    Handler: app.lambda_handler
Resources:
  GoodFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/good/
  BrokenFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/broken/
"""
BROKEN_NEIGHBOUR_FILES = {"src/good/app.py": HANDLER, "src/broken/app.py": "import nowhere_to_be_found\n" + HANDLER}

# Functions of both architectures: one arm64, one x86_64 (the default), one arm64 through a parameter.
ARCHITECTURES = """\
Parameters:
  Arch:
    Type: String
    Default: arm64
Globals:
  Function:
    Runtime: python3.11
Resources:
  GravitonFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: graviton/
      Handler: app.lambda_handler
      Architectures: [arm64]
  IntelFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: intel/
      Handler: app.lambda_handler
  ParamFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: param/
      Handler: app.lambda_handler
      Architectures: [!Ref Arch]
"""
ARCHITECTURES_FILES = {f"{name}/app.py": HANDLER for name in ("graviton", "intel", "param")}

LAYERED = """\
Parameters:
  Stage:
    Type: String
    Default: dev
  TableParam:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /app/table
  NoDefault:
    Type: String
Globals:
  Function:
    Runtime: python3.11
    Timeout: 7
    Layers:
      - !Ref SharedLayer
    Environment:
      Variables:
        STAGE: !Ref Stage
        GLOBAL_ONLY: from-globals
Resources:
  Table:
    Type: AWS::Serverless::SimpleTable
  SharedLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/shared/
  BuiltLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/built
    Metadata:
      BuildMethod: python3.11
  MakeLayer:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layers/make/
    Metadata:
      BuildMethod: makefile
  ConfirmBookingFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/confirm-booking/
      Handler: confirm.lambda_handler
      MemorySize: 512
      EphemeralStorage:
        Size: 2048
      Layers:
        - !Ref BuiltLayer
        - !Ref MakeLayer
        - !Sub "arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python311-x86_64:7"
      Environment:
        Variables:
          TABLE: !Ref Table
          TABLE_ARN: !GetAtt Table.Arn
          FROM_SSM: !Ref TableParam
          MISSING: !Ref NoDefault
          URL: !Sub "https://${AWS::Region}.example.com/${Stage}"
          JOINED: !Join ["-", [!Ref Stage, x]]
          COUNT: 3
          FLAG: true
  HelloWorld:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello_world_function
      Handler: hello_world/app.lambda_handler
  NodeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/node/
      Handler: app.handler
      Runtime: nodejs20.x
  InlineFunction:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
  S3Function:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri:
        Bucket: my-bucket
        Key: code.zip
      Handler: app.handler
  WebFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/web/
      Handler: run.sh
      Environment:
        Variables:
          AWS_LAMBDA_EXEC_WRAPPER: /opt/bootstrap
"""
LAYERED_FILES = {
    "src/confirm-booking/confirm.py": "import utils\nimport shared.db\nimport built_mod\n" + HANDLER,
    "src/confirm-booking/utils.py": "X = 1\n",
    "src/confirm-booking/requirements.txt": "six\n",
    "src/confirm-booking/prices.json": "{}\n",
    "src/confirm-booking/tests/test_confirm.py": "def test(): pass\n",
    "src/confirm-booking/tests/fixture.json": "{}\n",
    "src/confirm-booking/unused.py": "import nothing_here\n",
    "hello_world_function/hello_world/__init__.py": "",
    "hello_world_function/hello_world/app.py": "from model import thing\n" + HANDLER,
    "hello_world_function/model/__init__.py": "",
    "hello_world_function/model/thing.py": "",
    "layers/shared/python/shared/__init__.py": "",
    "layers/shared/python/shared/db.py": "",
    "layers/shared/bin/tool": "#!/bin/sh\n",
    "layers/built/built_mod.py": "",
    "src/web/run.sh": "#!/bin/bash\nexec python -m uvicorn main:app\n",  # the Lambda Web Adapter's way
    "src/web/main.py": "app = None\n",
    "layers/built/requirements.txt": "jmespath\n",
    "layers/make/Makefile": "build-MakeLayer:\n\ttrue\n",
    "src/node/app.js": "",
}


def no_dists(cfg: config.Config) -> dict[str, DistIndex]:
    return {lock: DistIndex({}) for lock in cfg.lock_files}
