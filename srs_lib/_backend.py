"""Choose the Keras backend before Keras is first imported.

srs_lib is written with ``keras.ops`` only, so it runs on any Keras 3 backend, but it is
developed, tested and benchmarked on PyTorch. Importing :mod:`srs_lib` therefore sets
``KERAS_BACKEND=torch`` unless the user already chose a backend through that variable.
A backend written in ``~/.keras/keras.json`` does not count as a choice: Keras writes
``tensorflow`` there on its first import, whatever the user wants.

If Keras was imported before srs_lib with another backend, the backend can no longer be
changed in this process; we say so once, clearly, and go on with the backend in use.
"""
from __future__ import annotations

import os
import sys
import warnings

PREFERRED_BACKEND = "torch"


class BackendWarning(UserWarning):
    """Keras runs on a backend other than the one srs_lib is tested on."""


def select_backend() -> str:
    """Select the Keras backend and return the name that will be (or is) in use."""
    chosen = os.environ.get("KERAS_BACKEND")
    if "keras" not in sys.modules:
        if not chosen:
            os.environ["KERAS_BACKEND"] = PREFERRED_BACKEND
            return PREFERRED_BACKEND
        return chosen
    # Keras is already imported: its backend is fixed for this process.
    import keras

    active = keras.backend.backend()
    if active != PREFERRED_BACKEND and not chosen:
        warnings.warn(
            f"Keras was imported before srs_lib and runs on the {active!r} backend; srs_lib "
            f"is tested on {PREFERRED_BACKEND!r}. The backend cannot change once Keras is "
            f"imported: set KERAS_BACKEND={PREFERRED_BACKEND} before importing keras (or "
            f"import srs_lib first) to use it.",
            BackendWarning,
            stacklevel=3,
        )
    return active
