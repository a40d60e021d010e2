"""Views of a state for people: the view model (levels of detail, focus, trace
overlay) that every picture is drawn from, and the text explanation of one
variable.

``model.py`` builds plain JSON-able data from a state; ``explain.py`` words
what the model knows about one variable. The Graphviz picture is drawn from
the model in ``pipeline/render.py``.
"""

from pipeline.views.explain import explain
from pipeline.views.model import DEFAULT_LEVEL, LEVELS, view_model

__all__ = ["DEFAULT_LEVEL", "LEVELS", "explain", "view_model"]
