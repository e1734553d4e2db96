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
