"""Sphinx configuration of nnexp's documentation: MyST Markdown pages, the PyData theme, and an API
reference generated from the docstrings. Built warnings-as-errors by ``tests/test_docs.py``:

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

import importlib.util
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))          # the checkout's nnexp, not an installed copy
sys.path.insert(0, str(DOCS / "_ext"))

import nnexp  # noqa: E402

project = "nnexp"
author = "the nnexp authors"
copyright = "the nnexp authors"
release = nnexp.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "config_reference",        # docs/_ext/config_reference.py: every key of nnexp/config.py's schema
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3          # [text](page.md#a-heading) links to headings of level 1-3

autosummary_generate = True
# the API pages are written again on every build: a page of a module since renamed or removed would
# otherwise stay in docs/generated (git-ignored) and fail the build on its import
shutil.rmtree(Path(__file__).resolve().parent / "generated", ignore_errors=True)
autosummary_imported_members = False
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# optional extras, imported only when used; nnexp.__main__ would run the command when imported
autodoc_mock_imports = ["mlflow", "torch", "nnexp.__main__"]
if importlib.util.find_spec("numba") is None:
    autodoc_mock_imports.append("numba")

html_theme = "pydata_sphinx_theme"
html_title = f"nnexp {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 6,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"**": []}      # the pages are one level deep: the top bar lists them
html_css_files = ["custom.css"]
html_show_sourcelink = False

highlight_language = "none"       # commands and tables, shown as written
exclude_patterns += ["_generated"]   # included by configuration.md, not pages of their own
