"""Sphinx configuration: the API reference (autodoc, numpy-style docstrings) and the
tutorials (Markdown, MyST).  Built in CI with warnings as errors:
``python -m sphinx -W --keep-going -b html docs docs/_build/html``."""
import os
import sys

sys.path.insert(0, os.path.abspath(".."))
from circuitlearn import __version__  # noqa: E402

project = "circuitlearn"
author = "the circuitlearn developers"
release = version = __version__
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon",
              "sphinx.ext.mathjax", "sphinx.ext.viewcode"]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_typehints = "description"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_ivar = True          # dataclass attributes as fields, not duplicate entries
myst_heading_anchors = 3
html_theme = "alabaster"
html_title = f"circuitlearn {version}"
suppress_warnings = ["myst.header"]
