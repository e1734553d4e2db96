"""``codeimport web`` configuration, the run chart and the imports
overview's own checks."""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from datetime import timezone
from types import SimpleNamespace

import pytest
from scripthelpers import call

from codeimport.enums import CodeImportResultStatus as Status
from codeimport.errors import CodeImportValidationError
from codeimport.scripts import web
from codeimport.web.chart import MAX_BARS
from codeimport.web.chart import run_chart


def test_web_needs_credentials(codeimport, capsys, monkeypatch):
    monkeypatch.delenv("CODEIMPORT_WEB_CREDENTIALS", raising=False)
    ran = call(web.main, "--dsn", codeimport.dsn, capsys=capsys)
    assert ran.returncode == 2
    assert ran.stderr == (
        "codeimport web: No web credentials are configured: set "
        "$CODEIMPORT_WEB_CREDENTIALS or use --credentials-file.\n")


def test_web_refuses_a_short_session_secret(codeimport, capsys, tmp_path,
                                            monkeypatch):
    monkeypatch.setenv("CODEIMPORT_WEB_CREDENTIALS", "nora:secret")
    secret = tmp_path / "secret"
    secret.write_text("hunter2\n")
    ran = call(web.main, "--dsn", codeimport.dsn, "--session-secret-file",
               str(secret), capsys=capsys)
    assert ran.returncode == 2
    assert "too short" in ran.stderr and "hunter2" not in ran.stderr
    missing = call(web.main, "--dsn", codeimport.dsn,
                   "--session-secret-file", str(tmp_path / "none"),
                   capsys=capsys)
    assert missing.returncode == 2
    assert "Cannot read the session secret file" in missing.stderr


def test_web_refuses_a_database_without_the_schema(codeimport, capsys,
                                                   monkeypatch):
    monkeypatch.setenv("CODEIMPORT_WEB_CREDENTIALS", "nora:secret")
    ran = call(web.main, "--dsn", "host=127.0.0.1 port=1 user=x "
               "password=hunter2 connect_timeout=2", capsys=capsys)
    assert ran.returncode == 2
    assert ran.stderr.startswith("codeimport web: Cannot use the database")
    assert "hunter2" not in ran.stderr


def test_session_secret_sources():
    assert len(web.load_session_secret(None, {})) >= 32
    assert web.load_session_secret(None, {
        web.SECRET_VARIABLE: "k" * 40}) == "k" * 40


def _result(finished, seconds, status):
    return SimpleNamespace(
        date_job_started=finished - timedelta(seconds=seconds),
        date_job_finished=finished, status=status)


def test_chart_bars_are_oldest_first_and_scaled_to_the_longest_run():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    chart = run_chart([
        _result(now, 0, Status.RECLAIMED),
        _result(now - timedelta(hours=1), 100, Status.SUCCESS_PARTIAL),
        _result(now - timedelta(hours=2), 50, Status.FAILURE_INVALID)])
    assert [b.outcome for b in chart.bars] == [
        "failure", "partial", "reclaimed"]
    heights = [b.height for b in chart.bars]
    assert heights[1] == 2 * heights[0]
    assert heights[2] == 2.0  # a zero-length run stays visible
    assert chart.top_label == "1m 40s"
    assert chart.bars[0].x < chart.bars[1].x < chart.bars[2].x
    assert run_chart([]).bars == []


def test_chart_shows_the_newest_runs_only():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    results = [_result(now - timedelta(hours=i), 10, Status.SUCCESS)
               for i in range(MAX_BARS + 20)]
    chart = run_chart(results)
    assert len(chart.bars) == MAX_BARS
    assert chart.last_label == "2026-01-01 00:00"
    assert max(b.x + b.width for b in chart.bars) <= chart.width


@pytest.mark.parametrize("arguments, message", [
    ({"filter": "sometimes"}, "Unknown filter"),
    ({"sort": "random"}, "Unknown sort"),
    ({"limit": -1}, "limit must be"),
])
def test_listing_refuses_unknown_choices(codeimport, arguments, message):
    with pytest.raises(CodeImportValidationError, match=message):
        codeimport.utilities.listing.search(**arguments)


def test_listing_escapes_like_wildcards(codeimport):
    f = codeimport.factory
    f.makeCodeImport(url="http://example.com/100%25done")
    f.makeCodeImport(url="http://example.com/a_b")
    f.makeCodeImport(url="http://example.com/axb")
    found = codeimport.utilities.listing.search(text="a_b")
    assert [s.source for s in found] == ["http://example.com/a_b"]
    percent = codeimport.utilities.listing.search(text="%")
    assert [s.source for s in percent] == ["http://example.com/100%25done"]
