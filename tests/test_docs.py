"""The documentation builds, warnings as errors: a broken link or cross-reference, a missing image, a
docstring that does not render, a page left out of every table of contents all fail this test.

The same command a contributor runs (docs/contributing.md), into a temporary folder, from scratch.
"""

import re
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


def test_readme_is_a_door_whose_links_open():
    """README stays short (the reference lives in docs/), every relative link in it reaches a file, and
    .ci/run runs README's test command."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    assert [link for link in links if not link.startswith("http") and not (ROOT / link).exists()] == []
    assert "\n    python -m pytest -q\n" in readme
    assert (ROOT / ".ci" / "run").read_text().rstrip().splitlines()[-1] == "python -m pytest -q"
