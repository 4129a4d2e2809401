"""Strip rules on RECORD listings: pure, no Docker."""

from builder.image.strip import plan_debug_strip, plan_strip

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


PILLOW = [
    ("PIL/_imaging.cpython-311-x86_64-linux-gnu.so", 3_000_000),
    ("PIL/_webp.cpython-311-x86_64-linux-gnu.so", 100_000),
    ("PIL/Image.py", 100),
    ("pillow.libs/libjpeg-8a13c6e0.so.62.4.0", 500_000),
]


def test_debug_strip_selects_shared_objects_but_never_vendored_libs():
    assert plan_debug_strip({"pillow": PILLOW}, {"pillow": ["*"]}) == (
        "PIL/_imaging.cpython-311-x86_64-linux-gnu.so",
        "PIL/_webp.cpython-311-x86_64-linux-gnu.so",
    )


def test_debug_strip_exclusions_and_only_the_named_distributions():
    selected = plan_debug_strip(
        {"pillow": PILLOW, "numpy": [("numpy/_core/_umath.so", 9)]}, {"pillow": ["*.so", "!PIL/_webp*"]}
    )
    assert selected == ("PIL/_imaging.cpython-311-x86_64-linux-gnu.so",)
