"""The documentation builds with warnings as errors, as CI builds it.

``docs/`` and ``examples/`` are copied into a temporary folder and built
there with ``sphinx-build -W --keep-going -b html``, so that the generated
pages (autosummary's ``generated/``, sphinx-gallery's ``auto_examples/``)
stay out of the clone.  The build executes the fast examples of the
gallery.  Skipped without the ``docs`` extra (``pip install ".[docs]"``).
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from subproc import child_env

import fastnn

ROOT = Path(__file__).resolve().parents[1]

#: The user guide's pages (``docs/<name>.rst``).
PAGES = ["index", "install", "quickstart", "toolbox", "tabular", "sklearn_differences",
         "threading", "reliability", "performance", "integrations", "internals", "api"]

#: Build output and generated sources, left out of the copy.
GENERATED = shutil.ignore_patterns("_build", "generated", "auto_examples",
                                   "sg_execution_times.rst", "__pycache__", "*.png")


@pytest.mark.slow
def test_docs_build_with_warnings_as_errors(tmp_path):
    for module in ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme", "matplotlib"):
        pytest.importorskip(module)
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=GENERATED)
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=GENERATED)
    html = tmp_path / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(tmp_path / "docs"), str(html)],
        cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]

    for page in PAGES:
        assert (html / f"{page}.html").is_file(), page
    # A page of the API reference for every public name.
    for name in fastnn.__all__:
        if name != "__version__":
            assert (html / "generated" / f"fastnn.{name}.html").is_file(), name
    # The gallery, with an executed example's output and figure, and the
    # Fashion-MNIST examples shown without running.
    assert (html / "auto_examples" / "index.html").is_file()
    boundary = (html / "auto_examples" / "decision_boundary.html").read_text()
    assert "test accuracy" in boundary
    assert "sphx_glr_decision_boundary_001.png" in boundary
    assert (html / "_images" / "sphx_glr_decision_boundary_001.png").stat().st_size > 0
    assert "epochs:" in (html / "auto_examples" / "digits.html").read_text()
    assert (html / "auto_examples" / "fashion_mnist_90.html").is_file()
    assert not (html / "auto_examples" / "fashion_mnist_data.html").exists()
    assert not (tmp_path / "examples" / "decision_boundary.png").exists()
