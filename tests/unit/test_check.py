"""`check`: the size baseline, its comparison, its file and the budgets, on small fake baselines."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from builder.analysis.records import DistNode, Reason
from builder.core.errors import ConfigError
from builder.measure import check, check_render
from builder.measure.sizes import DistSizes, ImageSizes, LayerSizes
from builder.project import config
from builder.project.config import CheckConfig
from tests.helpers import FIXTURES, assert_markdown_table, copy_example, run_cli

MB = 1_000_000
MINI = FIXTURES / "mini"


def fn(deps: dict[str, tuple[str, int]], shared: int = 1000, own: int = 500) -> check.FunctionSizes:
    """A function's sizes: ``deps`` maps a distribution to (version, bytes)."""
    dists = {name: check.DistBytes(v, b) for name, (v, b) in sorted(deps.items())}
    dep_bytes = sum(b for _, b in deps.values())
    roles = {"dependencies": dep_bytes, "shared": shared, "function": own}
    return check.FunctionSizes(dep_bytes + shared + own, roles, dists, total_bytes=dep_bytes + shared + own + 170 * MB)


def baseline(**functions: check.FunctionSizes) -> check.Baseline:
    return check.Baseline({name.replace("_", "-"): f for name, f in functions.items()})


ANALYTICS = {"numpy": ("2.2.6", 56 * MB), "pandas": ("2.2.3", 38 * MB)}
ORDERS = {"pydantic": ("2.14.4", 4 * MB), "requests": ("2.32.3", 500_000)}
OLD = baseline(analytics_report=fn(ANALYTICS), orders_api=fn(ORDERS))


def texts(result: check.CheckResult, function: str) -> list[str]:
    return [str(c) for row in result.rows if row.name == function for c in row.changes]


# ---- the comparison -------------------------------------------------------------------------


def test_the_same_images_pass_with_no_changes():
    result = check.compare(OLD, dict(OLD.functions))
    assert result.errors == [] and result.problems == ()
    assert all(row.delta == 0 and not row.changes for row in result.rows)
    assert "Result: within budget." in check_render.render_text(result)


def test_a_new_distribution_names_the_function_its_size_and_the_importing_line():
    now = fn({**ANALYTICS, "scipy": ("1.14.1", 93 * MB)})
    origins = {"analytics-report": {"scipy": "functions/analytics/report.py:5"}}
    result = check.compare(OLD, {"analytics-report": now, "orders-api": OLD.functions["orders-api"]}, origins=origins)
    assert texts(result, "analytics-report") == ["new: scipy 1.14.1 (+93.0 MB) pulled in by functions/analytics/report.py:5"]
    assert [(p.scope, p.kind) for p in result.errors] == [("analytics-report", "tolerance"), (check.TOTAL, "tolerance")]
    text = check_render.render_text(result)
    assert "error: analytics-report grew +93.0 MB (+98.9%), more than the 5.0% tolerance" in text
    assert "Result: over budget (all functions, analytics-report)." in text


def test_a_version_bump_shows_old_and_new_versions_and_the_bytes():
    now = fn({**ANALYTICS, "pandas": ("3.1.1", 38 * MB + 41_800_000)})
    result = check.compare(OLD, {**OLD.functions, "analytics-report": now})
    assert texts(result, "analytics-report") == ["+41.8 MB pandas 2.2.3 -> 3.1.1"]


def test_a_removed_distribution_passes_and_reports_the_saving():
    now = fn({"pydantic": ("2.14.4", 4 * MB)})
    result = check.compare(OLD, {**OLD.functions, "orders-api": now})
    assert result.errors == []
    assert texts(result, "orders-api") == ["removed: requests 2.32.3 (-500.0 kB)"]
    assert "Result: within budget, 500.0 kB smaller than the baseline." in check_render.render_text(result)


def test_code_changes_and_files_outside_distributions_are_reasons_too():
    old = fn({"numpy": ("2.2.6", 10 * MB)})
    new = check.FunctionSizes(old.above_base_bytes + 2100, {"dependencies": 10 * MB + 2000, "shared": 1000, "function": 600}, old.dists)  # fmt: skip
    result = check.compare(baseline(f=old), {"f": new})
    assert texts(result, "f") == ["+2.0 kB dependency files outside any distribution", "+100 B function code"]


@pytest.mark.parametrize(("growth", "fails"), [(0.05, False), (0.0501, True)])
def test_growth_fails_only_past_the_tolerance(growth, fails):
    old = fn({"numpy": ("2.2.6", 1 * MB)}, shared=0, own=0)
    new = fn({"numpy": ("2.2.6", round(MB * (1 + growth)))}, shared=0, own=0)
    assert bool(check.compare(baseline(f=old), {"f": new}).errors) is fails


def test_the_tolerance_and_ceilings_come_from_the_budget():
    new = {**OLD.functions, "orders-api": fn({**ORDERS, "boto3": ("1.0", 400_000)})}  # +8.9%
    assert check.compare(OLD, new, CheckConfig(tolerance=0.10)).errors == []
    ceilings = check.compare(OLD, dict(OLD.functions), CheckConfig(max_function_bytes=50 * MB, max_total_bytes=90 * MB))
    assert [(p.scope, p.kind) for p in ceilings.errors] == [("analytics-report", "ceiling"), (check.TOTAL, "ceiling")]
    assert "analytics-report has 94.0 MB above the base, over the 50.0 MB ceiling (max-function-bytes)" in ceilings.errors[0].message


def test_lambda_limits_always_apply():
    huge = check.FunctionSizes(300 * 1024**2, {"dependencies": 300 * 1024**2}, {}, total_bytes=11 * 1024**3)
    result = check.compare(baseline(big=huge), {"big": huge})
    assert [(p.level, p.kind) for p in result.problems] == [("error", "lambda-image-limit"), ("warning", "zip-limit")]
    assert "over Lambda's 10 GiB image limit" in result.problems[0].message
    assert "over the 250 MiB limit of a ZIP package" in result.problems[1].message


def test_new_and_removed_functions_and_the_total():
    result = check.compare(OLD, {"analytics-report": OLD.functions["analytics-report"], "health": fn({})})
    cells = {row.name: (row.baseline, row.now) for row in result.rows}
    assert cells["health"] == (None, 1500) and cells["orders-api"][1] is None
    assert [p.kind for p in result.problems] == ["not-in-baseline"]
    assert result.total.delta == 1500 - OLD.functions["orders-api"].above_base_bytes


def test_update_accepts_growth_but_not_ceilings():
    grown = {**OLD.functions, "orders-api": fn({**ORDERS, "boto3": ("1.0", 9 * MB)})}
    assert check.compare(OLD, grown, update=True).errors == []
    assert {p.level for p in check.compare(OLD, grown, update=True).problems} == {"accepted"}
    assert check.compare(OLD, grown, CheckConfig(max_function_bytes=MB), update=True).errors


def test_pulled_in_by_follows_requirements_back_to_the_import():
    nodes = [
        DistNode("requests", "2.34.2", 1, (Reason("import", "functions/ml/score.py", 11),)),
        DistNode("urllib3", "2.8.0", 1, (Reason("requires", "requests", "urllib3<3"),)),
        DistNode("idna", "3.20", 1, (Reason("requires", "urllib3", "idna"),)),
        DistNode("extra", "1.0", 1, (Reason("include", "vendor/*.whl", 0),)),
    ]
    assert check.pulled_in_by(nodes) == {
        "requests": "functions/ml/score.py:11",
        "urllib3": "functions/ml/score.py:11 via requests",
        "idna": "functions/ml/score.py:11 via requests -> urllib3",
        "extra": "include vendor/*.whl",
    }


def test_measure_reads_roles_and_distributions_from_the_image():
    layers = (
        LayerSizes(0, "sha256:a", 100 * MB, 10, "base", "base", 0),
        LayerSizes(1, "sha256:b", 5000, 3, "COPY", "deps/typing-group", 0, (DistSizes("typing_extensions", "4.16.0", "typing-group", 4000, 2),)),
        LayerSizes(2, "sha256:c", 300, 1, "COPY", "shared", 0),
        LayerSizes(3, "sha256:d", 200, 1, "COPY", "function", 0),
    )
    sizes = check.measure(ImageSizes("x:1", "sha256:i", layers, 1, 0, ()))
    assert sizes.above_base_bytes == 5500 and sizes.total_bytes == 100 * MB + 5500
    assert dict(sizes.roles) == {"dependencies": 5000, "shared": 300, "function": 200}
    assert dict(sizes.dists) == {"typing-extensions": check.DistBytes("4.16.0", 4000)}


# ---- the baseline file ------------------------------------------------------------------------


def test_the_baseline_round_trips_sorted_without_timestamps():
    text = check.baseline_text(OLD)
    assert text == check.baseline_text(check.parse_baseline(text))
    document = json.loads(text)
    assert text == json.dumps(document, indent=2, sort_keys=True) + "\n"
    assert document["functions"]["analytics-report"] == {
        "above_base_bytes": 94 * MB + 1500,
        "distributions": {"numpy": {"bytes": 56 * MB, "version": "2.2.6"}, "pandas": {"bytes": 38 * MB, "version": "2.2.3"}},
        "layers": {"dependencies": 94 * MB, "function": 500, "shared": 1000},
    }
    assert set(document) == {"schema_version", "kind", "functions"}


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ('{"functions": ', "Expecting value"),
        ("[]", "the document must be an object"),
        ('{"kind": "other", "schema_version": 1, "functions": {}}', "it is not a size baseline"),
        ('{"kind": "builder-size-baseline", "schema_version": 1, "functions": {"f": {"above_base_bytes": -1, "layers": {}, "distributions": {}}}}', "functions.f.above_base_bytes must be a non-negative integer"),
        ('{"kind": "builder-size-baseline", "schema_version": 1, "functions": {"f": {"above_base_bytes": 1, "layers": {}}}}', "functions.f.distributions must be an object"),
    ],
)
def test_a_corrupt_baseline_says_what_is_wrong_and_how_to_repair_it(text, detail):
    with pytest.raises(ConfigError) as caught:
        check.parse_baseline(text, "sizes.json")
    assert f"The size baseline sizes.json is corrupt: {detail}" in str(caught.value)
    assert "check --update" in str(caught.value)


def test_a_missing_baseline_says_how_to_record_one(tmp_path):
    with pytest.raises(ConfigError, match=r"No size baseline at sizes.json\. Record one .* check --update"):
        check.read_baseline(tmp_path / "sizes.json", "sizes.json")


def test_update_of_some_functions_keeps_the_others():
    new = fn({})
    assert list(check.updated(OLD, {"health": new}, replace_all=False).functions) == ["analytics-report", "health", "orders-api"]
    assert list(check.updated(OLD, {"health": new}, replace_all=True).functions) == ["health"]


# ---- rendering --------------------------------------------------------------------------------


def test_markdown_is_a_table_with_one_row_per_function_and_the_total():
    now = fn({**ANALYTICS, "pandas": ("3.1.1", 40 * MB)})
    markdown = check_render.render_markdown(check.compare(OLD, {**OLD.functions, "analytics-report": now}))
    rows = assert_markdown_table(markdown, ["analytics-report", "orders-api"])
    assert rows[2] == ["analytics-report", "94.0 MB", "96.0 MB", "+2.0 MB", "+2.1%"]
    assert "  - +2.0 MB pandas 2.2.3 -> 3.1.1" in markdown.splitlines()


def test_json_holds_rows_changes_and_problems_in_bytes():
    now = fn({**ANALYTICS, "scipy": ("1.14.1", 93 * MB)})
    document = check_render.to_json(check.compare(OLD, {**OLD.functions, "analytics-report": now}))
    assert document["kind"] == "check" and document["passed"] is False
    assert document["budget"] == {"tolerance": 0.05, "max_function_bytes": None, "max_total_bytes": None}
    first = document["functions"][0]
    assert (first["name"], first["delta_bytes"], first["changes"][0]["kind"]) == ("analytics-report", 93 * MB, "new")
    assert [p["scope"] for p in document["problems"]] == ["analytics-report", check.TOTAL]


# ---- budgets in the configuration ---------------------------------------------------------------


def mini(tmp_path: Path, table_text: str) -> Path:
    root = tmp_path / "mini"
    shutil.copytree(MINI, root)
    with (root / "builder.toml").open("a") as handle:
        handle.write("\n[check]\n" + table_text)
    return root


def test_budgets_are_read_from_the_check_table(tmp_path):
    assert config.load(mini(tmp_path, "tolerance = 0\nmax-total-bytes = 300_000_000\n")).check == CheckConfig(0.0, None, 300_000_000)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tolerence = 0.1\n", "Did you mean 'tolerance'?"),
        ("tolerance = -0.1\n", "tolerance must be a fraction"),
        ("max-function-bytes = 0\n", "max-function-bytes must be a positive number of bytes"),
        ('max-total-bytes = "1 GB"\n', "'max-total-bytes' must be a int"),
    ],
)
def test_bad_budgets_are_rejected(tmp_path, text, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.load(mini(tmp_path, text))


def test_no_engine_is_an_engine_error(tmp_path):
    root = copy_example(tmp_path / "backend")
    (root / "sizes.json").write_text(check.baseline_text(check.Baseline()))
    result = run_cli("--project", str(root), "check", env={"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"})
    assert result.returncode == 3 and "Traceback" not in result.stderr
    assert "error: No Docker engine answers" in result.stderr
