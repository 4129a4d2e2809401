"""Strip rules on RECORD listings: pure, no Docker; and stage.py's debug-section cut on a small ELF file."""

import importlib.util
import struct

from builder.image.strip import plan_debug_strip, plan_strip
from tests.helpers import REPO

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


# --- stage.py's strip_debug, on an ELF file laid out as auditwheel leaves Pillow's _imaging ------

EHDR, PHDR, SHDR = struct.Struct("<16sHHIQQQIHHHHHH"), struct.Struct("<IIQQQQQQ"), struct.Struct("<IIQQQQIIQQ")
PT_LOAD, SHT_PROGBITS, SHT_SYMTAB, SHT_STRTAB = 1, 1, 2, 3


def _stage():
    spec = importlib.util.spec_from_file_location("stage", REPO / "builder" / "resources" / "stage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _elf(debug_between: bytes = b"") -> bytes:
    """A 64-bit shared object: a first segment (headers, .text), 7 kB of debug sections, a second
    segment after them at a page boundary (.dynamic, as patchelf adds), then .symtab and the
    section names; ``debug_between`` is a non-debug section put between the two debug ones."""
    names = b"\0.text\0.debug_info\0.debug_str\0.dynamic\0.symtab\0.shstrtab\0.comment\0"
    at = {n: names.index(n.encode() + b"\0") for n in (".text", ".debug_info", ".debug_str", ".dynamic", ".symtab",
                                                        ".shstrtab", ".comment")}  # fmt: skip
    out = bytearray(0x3000)
    out[0x100:0x180] = b"T" * 0x80  # .text
    out[0x200:0x1000] = b"I" * 0xE00  # .debug_info
    out[0x1000 + len(debug_between):0x1E00] = b"S" * (0xE00 - len(debug_between))  # .debug_str
    out[0x1000:0x1000 + len(debug_between)] = debug_between
    out[0x2000:0x2100] = b"D" * 0x100  # .dynamic, in the second segment (file 0x2000, address 0x12000)
    out[0x2200:0x2230] = b"Y" * 0x30  # .symtab
    out[0x2230:0x2230 + len(names)] = names
    sections = [(0, 0, 0, 0, 0, 0, 0, 0, 0, 0), (at[".text"], SHT_PROGBITS, 6, 0x100, 0x100, 0x80, 0, 0, 16, 0),
                (at[".debug_info"], SHT_PROGBITS, 0, 0, 0x200, 0xE00, 0, 0, 1, 0)]
    if debug_between:
        sections.append((at[".comment"], SHT_PROGBITS, 0, 0, 0x1000, len(debug_between), 0, 0, 1, 0))
    sections += [(at[".debug_str"], SHT_PROGBITS, 0, 0, 0x1000 + len(debug_between), 0xE00 - len(debug_between),
                  0, 0, 1, 0),
                 (at[".dynamic"], 6, 3, 0x12000, 0x2000, 0x100, 0, 0, 8, 16),
                 (at[".symtab"], SHT_SYMTAB, 0, 0, 0x2200, 0x30, len(sections) + 3, 0, 8, 24),
                 (at[".shstrtab"], SHT_STRTAB, 0, 0, 0x2230, len(names), 0, 0, 1, 0)]  # fmt: skip
    sections[-2] = (*sections[-2][:6], len(sections) - 1, *sections[-2][7:])  # .symtab links to the names
    shoff = 0x2300
    segments = [(PT_LOAD, 5, 0, 0, 0, 0x180, 0x180, 0x1000), (PT_LOAD, 6, 0x2000, 0x12000, 0x12000, 0x100, 0x100, 0x1000)]
    out[:EHDR.size] = EHDR.pack(b"\x7fELF\x02\x01\x01" + bytes(9), 3, 62, 1, 0, EHDR.size, shoff, 0, EHDR.size,
                                PHDR.size, len(segments), SHDR.size, len(sections), len(sections) - 1)  # fmt: skip
    for i, segment in enumerate(segments):
        PHDR.pack_into(out, EHDR.size + i * PHDR.size, *segment)
    out[shoff:] = b"".join(SHDR.pack(*s) for s in sections)
    return bytes(out)


def _read(data: bytes) -> tuple[list, dict]:
    header = EHDR.unpack_from(data)
    segments = [PHDR.unpack_from(data, header[5] + i * PHDR.size) for i in range(header[10])]
    sections = [SHDR.unpack_from(data, header[6] + i * SHDR.size) for i in range(header[12])]
    names = sections[header[13]][4]
    by_name = {data[names + s[0]:data.index(b"\0", names + s[0])].decode(): s for s in sections[1:]}
    return segments, by_name


def test_strip_debug_cuts_the_debug_sections_out_and_keeps_every_segment_at_a_congruent_offset(tmp_path):
    path = tmp_path / "_imaging.so"
    path.write_bytes(original := _elf())
    path.chmod(0o755)
    _stage().strip_debug(str(path))
    data = path.read_bytes()
    assert len(data) == len(original) - 0x1000  # of the 7 kB, what is a multiple of the later segment's alignment
    segments, sections = _read(data)
    first, second = segments
    assert first == PHDR.unpack_from(original, EHDR.size)  # untouched
    assert second[2] == 0x1000 and second[3] == 0x12000 and second[5] == 0x100  # moved, congruent with its address
    assert data[second[2]:second[2] + 0x100] == b"D" * 0x100
    assert sections[".debug_info"][5] == sections[".debug_str"][5] == 0  # headers kept: indices unchanged
    assert len(sections) == 6 and data[0x100:0x180] == b"T" * 0x80
    for name, content in ((".dynamic", b"D" * 0x100), (".symtab", b"Y" * 0x30)):
        offset, size = sections[name][4], sections[name][5]
        assert data[offset:offset + size] == content
    assert path.stat().st_mode & 0o777 == 0o755
    _stage().strip_debug(str(path))
    assert path.read_bytes() == data  # nothing left to strip


def test_strip_debug_leaves_a_file_it_cannot_cut_safely_as_it_is(tmp_path):
    path = tmp_path / "odd.so"
    path.write_bytes(split := _elf(debug_between=b"GCC: (GNU) 12\0"))  # .comment between the debug sections
    _stage().strip_debug(str(path))
    assert path.read_bytes() == split
    path.write_bytes(b"not an ELF file")
    _stage().strip_debug(str(path))
    assert path.read_bytes() == b"not an ELF file"
