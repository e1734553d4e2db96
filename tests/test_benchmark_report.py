"""The benchmark report keeps RESULTS.md and the README's table current."""

import os

from benchmarks.report import BEGIN
from benchmarks.report import END
from benchmarks.report import write_markdown

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_replaces_only_the_block_between_the_markers(tmp_path):
    path = _write(tmp_path / "r.md",
                  f"# Title\n\nhand\n\n{BEGIN}\nold table\n{END}\n\ntail\n")
    assert write_markdown("| new |", path)
    text = open(path, encoding="utf-8").read()
    assert text == f"# Title\n\nhand\n\n{BEGIN}\n| new |\n{END}\n\ntail\n"


def test_appends_the_markers_to_a_results_file_without_them(tmp_path):
    path = _write(tmp_path / "r.md", "# Results\n")
    assert write_markdown("| t |", path)
    assert open(path, encoding="utf-8").read() == (
        f"# Results\n\n{BEGIN}\n| t |\n{END}\n")


def test_leaves_a_file_without_markers_alone_unless_told_to_append(
        tmp_path):
    path = _write(tmp_path / "README.md", "# Readme\n")
    assert not write_markdown("| t |", path, append=False)
    assert open(path, encoding="utf-8").read() == "# Readme\n"


def test_the_readme_and_results_carry_the_markers_and_the_same_table():
    tables = []
    for name in ("README.md", os.path.join("benchmarks", "RESULTS.md")):
        with open(os.path.join(ROOT, name), encoding="utf-8") as stream:
            text = stream.read()
        assert text.count(BEGIN) == 1 and text.count(END) == 1, name
        tables.append(text[text.index(BEGIN):text.index(END)])
    assert tables[0] == tables[1]


def test_the_imports_table_has_its_own_block(tmp_path):
    from benchmarks.__main__ import IMPORTS_MARKERS

    begin, end = IMPORTS_MARKERS
    path = _write(tmp_path / "r.md",
                  f"{BEGIN}\nscheduler\n{END}\n\n{begin}\nold\n{end}\n")
    assert write_markdown("| imports |", path, markers=IMPORTS_MARKERS)
    assert open(path, encoding="utf-8").read() == (
        f"{BEGIN}\nscheduler\n{END}\n\n{begin}\n| imports |\n{end}\n")
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as stream:
        readme = stream.read()
    assert begin in readme and end in readme


def test_the_imports_table_compares_with_the_fastest_reference():
    from benchmarks.imports import render

    row = {"kind": "svn", "full_s": 2.0, "incremental_s": 0.3,
           "nochange_s": 0.2, "peak_rss_mb": 50.0}
    text = render({"revisions": 2000, "new": 10, "failed": {
        "cvs": "RuntimeError: boom"}, "rows": [
        {**row, "tool": "codeimport", "full_rev_per_s": 900.0},
        {**row, "tool": "git svn", "full_rev_per_s": 10.0},
        {**row, "tool": "svn-all-fast-export", "full_rev_per_s": 1000.0,
         "nochange_s": 1.5},
    ]})
    assert "| svn | codeimport | 2.00 s | 900 | 0.90× |" in text
    assert "| svn | git svn | 2.00 s | 10 | 0.01× |" in text
    assert "| svn: ≥ 0.8× the fastest reference | 0.90× | yes |" in text
    assert "| svn: nothing new under 1 s | 0.20 s | yes |" in text
    assert "| cvs | failed: RuntimeError: boom |" in text
