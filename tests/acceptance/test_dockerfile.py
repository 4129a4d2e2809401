"""The committed Dockerfiles are what builder generates for the bundled examples.

Checked on the session's built copies of the examples (their wheelhouses are already there), so
nothing is written into the checkout.
"""

from __future__ import annotations

import pytest

from tests.helpers import EXAMPLE, SAM_APP, run_cli

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("example", ["built_example", "sam_app"])
def test_committed_dockerfile_is_up_to_date(example, request):
    root, _ = request.getfixturevalue(example)
    committed = (EXAMPLE if example == "built_example" else SAM_APP) / "Dockerfile"
    assert (root / "Dockerfile").read_bytes() == committed.read_bytes()  # the copy holds the committed file
    result = run_cli("--project", str(root), "dockerfile", "--check")
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_dockerfile_check_fails_when_stale(built_example, tmp_path):
    root, _ = built_example
    stale = tmp_path / "Dockerfile"
    stale.write_text((EXAMPLE / "Dockerfile").read_text().replace("numpy 2.2.6", "numpy 2.2.5"))
    result = run_cli("--project", str(root), "dockerfile", "--check", "--output", str(stale))
    assert result.returncode == 2
    assert "is stale" in result.stderr and "Regenerate it" in result.stderr
    assert "Traceback" not in result.stderr
