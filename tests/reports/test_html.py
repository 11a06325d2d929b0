"""``maildesk report --format html`` opened in a real browser (headless Chromium): the
page renders, its three charts are SVG with bars, and the fixture month's numbers show.

Chromium is a Debian package that ``scripts/test`` installs; without it this test fails.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from click.testing import CliRunner

from maildesk.cli import cli
from maildesk.reports import indicators as reports
from maildesk.reports.monthly import render_html
from maildesk.templates import Templates
from tests.reports.test_monthly import CONFIG, make_store

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # we run as root in CI
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("headless Chromium is required: apt-get install -y chromium")


def _render(page: Path, profile: Path) -> str:
    """The DOM after Chromium has loaded and rendered ``page``."""
    done = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def _report(tmp_path: Path, *args: str) -> Path:
    make_store(tmp_path / "maildesk.db")
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    page = tmp_path / "report.html"
    result = CliRunner().invoke(
        cli,
        [
            "--config",
            str(tmp_path / "config.toml"),
            "report",
            "--month",
            "2026-10",
            "--format",
            "html",
            "--output",
            str(page),
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    return page


def test_the_html_report_renders_in_chromium(tmp_path: Path) -> None:
    page = _report(tmp_path, "--language", "en")
    source = page.read_text(encoding="utf-8")
    # Self-contained: no scripts, stylesheets, images or fonts from anywhere.
    assert not re.search(r"<(script|link|img)\b|url\(|https?://", source)
    dom = _render(page, tmp_path / "profile")
    for chart in ("chart-per-day", "chart-response", "chart-satisfaction"):
        found = re.search(rf'<svg[^>]*id="{chart}".*?</svg>', dom, re.S)
        assert found, chart
        assert found.group(0).count("<rect") >= 2, chart
    # 31 days of October, one bar each; six response-time buckets.
    per_day = re.search(r'<svg[^>]*id="chart-per-day".*?</svg>', dom, re.S)
    assert per_day is not None
    assert per_day.group(0).count("<rect") == 31
    summary = dict(re.findall(r'data-figure="([a-z0-9_]+)">([^<]*)<', dom))
    assert summary["opened"] == "7"
    assert summary["answered_on_time"] == "3"
    assert summary["not_answered"] == "2"
    assert summary["first_response_median_h"] == "2.25"
    assert summary["first_response_p90_h"] == "27.35"
    assert summary["answered_ratio"] == "0.67"
    assert "Monthly report 2026-10" in dom
    assert "Satisfaction by queue" in dom
    # Satisfaction by queue: info 50 %, soporte 100 %.
    assert "50.0 %" in dom
    assert "100.0 %" in dom


def test_the_spanish_page_escapes_what_it_shows(tmp_path: Path) -> None:
    page = _report(tmp_path)
    source = page.read_text(encoding="utf-8")
    assert "Informe mensual 2026-10" in source
    assert "Atendidas / presentadas" in source
    # Names come from the store: autoescaped like any requester text.
    line = reports.Line("agent", "<script>alert(1)</script>@x")
    report = reports.Report("2026-10", None, (reports.Line("total", ""), line), (), False, 5, 3)
    html = render_html(Templates(None, "es"), report, "es")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@x" in html
    assert "<script>" not in html
