"""Helpers of the documentation's configuration (``docs/conf.py``).

They live in a module of their own so that Sphinx can pickle the
configuration with its environment (a function defined in ``conf.py``
cannot be); sphinx-gallery's configuration names them by qualified name.
"""

import os
import tempfile
from pathlib import Path

from docutils import nodes


def reset_argv(gallery_conf, script_vars):
    """Command-line arguments of an example executed by the gallery.

    ``decision_boundary.py`` writes its figure to the file named by its first
    argument (else into the folder it runs in, ``examples/``): point it at a
    temporary file.  The gallery shows the figure itself.
    """
    if Path(script_vars["src_file"]).stem == "decision_boundary":
        return [os.path.join(tempfile.gettempdir(), "fastnn-docs-decision_boundary.png")]
    return []


#: The gallery's order: from one neuron to Fashion-MNIST.  An example not
#: listed comes after these, by file name.
EXAMPLE_ORDER = ["perceptron", "xor", "two_hidden_layers", "decision_boundary", "digits",
                 "fashion_mnist", "fashion_mnist_90"]


class ExampleOrder:
    """Sort key of the gallery's examples (sphinx-gallery's ``within_subsection_order``)."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __repr__(self):
        return "ExampleOrder"

    def __call__(self, filename):
        stem = Path(filename).stem
        rank = EXAMPLE_ORDER.index(stem) if stem in EXAMPLE_ORDER else len(EXAMPLE_ORDER)
        return rank, filename


SKLEARN = "https://scikit-learn.org/stable/"

#: Labels and glossary terms of scikit-learn's documentation that the
#: docstrings of the methods fastnn's estimators inherit from scikit-learn
#: (``score``, ``get_metadata_routing``, ``set_fit_request``...) refer to,
#: with their pages on scikit-learn's site.  Without intersphinx (the build
#: fetches nothing) they would be unresolved references, errors in a build
#: with warnings as errors; a new one reported by the build goes here.
SKLEARN_LABELS = {
    "metadata_routing": "metadata_routing.html",
    "accuracy_score": "modules/model_evaluation.html#accuracy-score",
    "r2_score": "modules/model_evaluation.html#r2-score",
}
SKLEARN_TERMS = {"meta-estimator"}


def sklearn_reference(app, env, node, contnode):
    """Resolve a reference to scikit-learn's documentation (``missing-reference``).

    Returns a link to the page on scikit-learn's site for the labels of
    ``SKLEARN_LABELS`` and the glossary terms of ``SKLEARN_TERMS``, and None
    (unresolved, a warning) for anything else.
    """
    if node.get("refdomain") != "std":
        return None
    target = node.get("reftarget", "")
    if node.get("reftype") == "ref" and target in SKLEARN_LABELS:
        uri = SKLEARN + SKLEARN_LABELS[target]
    elif node.get("reftype") == "term" and target.lower() in SKLEARN_TERMS:
        uri = SKLEARN + "glossary.html#term-" + target.lower()
    else:
        return None
    text = contnode.astext() if contnode is not None else target
    return nodes.reference(text, text, internal=False, refuri=uri, reftitle="scikit-learn")
