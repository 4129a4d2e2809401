"""Strip rules on RECORD listings: pure, no Docker."""

from builder.strip import plan_strip

PANDAS = [
    ("pandas/__init__.py", 10),
    ("pandas/core/frame.py", 500),
    ("pandas/tests/test_a.py", 300),
    ("pandas/tests/io/test_b.py", 200),
    ("pandas/_libs/lib.pyx", 40),
    ("pandas/_libs/lib.cpython-311-x86_64-linux-gnu.so", 900),
    ("pandas-2.3.2.dist-info/METADATA", 5),
    ("pandas-2.3.2.dist-info/RECORD", 7),
    ("bin/tool", 3),
]


def test_default_rules_remove_tests_and_sources_and_report_bytes_by_rule():
    result = plan_strip({"pandas": PANDAS})
    assert result.paths == ("bin", "pandas/_libs/lib.pyx", "pandas/tests")
    assert dict(result.removed) == {"tests/": 500, "*.pyx": 40, "/bin/": 3}
    assert result.removed_bytes == 543


def test_dist_info_metadata_is_never_stripped():
    result = plan_strip({"pandas": PANDAS}, rules=("*",))
    assert not any(".dist-info" in p for p in result.paths)


def test_keep_pattern_and_per_dist_rules():
    result = plan_strip(
        {"pandas": PANDAS, "numpy": [("numpy/tests/t.py", 50), ("numpy/core.py", 9)]},
        per_dist={"pandas": ["!pandas/tests/io/", "pandas/core/"]},
    )
    # pandas/tests is no longer whole: only the file outside the kept folder goes.
    assert "pandas/tests/test_a.py" in result.paths
    assert "pandas/tests/io/test_b.py" not in result.paths
    assert "pandas/core" in result.paths
    assert "numpy/tests" in result.paths
    assert dict(result.removed)["tests/"] == 350
    assert dict(result.removed)["pandas/core/"] == 500


def test_user_patterns_can_replace_the_defaults():
    result = plan_strip({"pandas": PANDAS}, rules=("*.so",))
    assert result.paths == ("pandas/_libs/lib.cpython-311-x86_64-linux-gnu.so",)
