"""The documentation builds, warnings as errors: a broken link or cross-reference, a missing image, a
docstring that does not render, a page left out of every table of contents all fail this test.

The same command a contributor runs (docs/contributing.md), into a temporary folder, from scratch.
"""

import subprocess
import sys

from helpers import ROOT


def test_the_docs_build_without_a_warning(tmp_path):
    done = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html",
                           "-d", str(tmp_path / "doctrees"), str(ROOT / "docs"), str(tmp_path / "html")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    pages = {path.name for path in (tmp_path / "html").glob("*.html")}
    assert {"index.html", "classics.html", "configuration.html", "sweeps.html", "search-sweeper.html"} <= pages
    configuration = (tmp_path / "html" / "configuration.html").read_text()
    assert "model.hidden" in configuration and "schedule.warmup" in configuration   # written from the schema
