"""From benchmark to product: the two-stage sticker recommender.

:mod:`srs_lib.recommend.index` encodes a corpus's whole sticker library once per model
(memory-mapped, rebuilt when the model or the corpus changes, written atomically) and
searches it exactly; :mod:`srs_lib.recommend.recommender` answers a typed dialog with the
library's top stickers: a dual encoder retrieves the top N, SRS re-ranks them from cached
sticker encodings; :mod:`srs_lib.recommend.evaluation` measures Recall@k and MRR over the
whole library; :mod:`srs_lib.recommend.rank_command` is ``python -m srs_lib rank``.

This package is also callable: ``srs_lib.recommend(context, checkpoint=..., base_path=...)``
is :func:`srs_lib.recommend.recommender.recommend` (the package keeps its name so that
``srs_lib.recommend.index`` and the function live under one name). Nothing here imports
Keras until a model is loaded.
"""
from __future__ import annotations

import sys
import types


def recommend(context, **kwargs):
    """:func:`srs_lib.recommend.recommender.recommend` (imported on first use)."""
    from srs_lib.recommend.recommender import recommend as _recommend

    return _recommend(context, **kwargs)


class _CallablePackage(types.ModuleType):
    """The package's type: ``srs_lib.recommend(...)`` calls :func:`recommend`."""

    def __call__(self, context, **kwargs):
        return recommend(context, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
