"""`ci`: write the backend's CI workflow (the guide's "update the CI/CD pipeline")."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import ConfigError
from ..core.files import write_atomic
from ..project import workflow
from .common import load

CI_EPILOG = """\
The workflow builds every function's image and checks the sizes against the committed baseline
(sizes.json, with the comparison in the job summary) on every push and pull request; on the main
branch it then pushes the images, pins their digests into the template and commits that. Fill in
the values under `env` at its top (the base image, the ECR repository, the AWS region) and add the
repository secret AWS_ROLE_ARN, an IAM role the workflow may assume that can push to ECR.

examples:
  python -m builder ci --github                 # .github/workflows/builder.yml in the git work tree
  python -m builder ci --github --output ci.yml --branch trunk
"""


def cmd_ci(args: argparse.Namespace) -> int:
    if not args.github:
        raise ConfigError("Say which CI to write for: --github (GitHub Actions) is the one builder writes.")
    cfg = load(args)
    repository = workflow.repository_root(cfg.root)
    output = Path(args.output) if args.output else repository / workflow.WORKFLOW
    text = workflow.github_workflow(cfg, repository, branch=args.branch)
    if output.is_file() and output.read_text(encoding="utf-8") != text and not args.force:
        raise ConfigError(f"{output} exists and is not what builder would write. Pass --force to replace it, "
                          "or --output FILE to write it elsewhere.")  # fmt: skip
    write_atomic(output, text)
    print(f"wrote {output}: fill in the values under `env` and add the secret AWS_ROLE_ARN (see `ci --help`)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's command to the parser."""
    c = sub.add_parser("ci", help="write a CI workflow that builds, checks, pushes and pins the images",
                       epilog=CI_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    c.add_argument("--github", action="store_true", help="a GitHub Actions workflow")
    c.add_argument("--output", "-o", metavar="FILE", help=f"where to write it (default: {workflow.WORKFLOW} in the git work tree)")
    c.add_argument("--branch", default="main", help="the branch that pushes and pins (default: %(default)s)")
    c.add_argument("--force", action="store_true", help="replace a workflow that differs")
    c.set_defaults(handler=cmd_ci)
