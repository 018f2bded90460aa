"""srs_lib picks the torch backend unless the user chose one, and says so if it cannot."""
from __future__ import annotations

import os
import subprocess
import sys
import types

import pytest

from srs_lib import _backend


def _python(code: str, **env_changes) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(env_changes)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=300)


def test_selects_torch_when_nothing_was_chosen():
    out = _python("import srs_lib, keras; print(keras.backend.backend())")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "torch"


def test_respects_the_users_choice():
    # jax is not installed here, so only check what srs_lib leaves for Keras to pick up.
    out = _python("import os, sys, srs_lib; print(srs_lib.KERAS_BACKEND, os.environ['KERAS_BACKEND'],"
                  " 'keras' in sys.modules)", KERAS_BACKEND="jax")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["jax", "jax", "False"]


def _fake_keras(monkeypatch, backend: str):
    fake = types.ModuleType("keras")
    fake.backend = types.SimpleNamespace(backend=lambda: backend)
    monkeypatch.setitem(sys.modules, "keras", fake)


def test_warns_when_keras_was_imported_first_with_another_backend(monkeypatch):
    _fake_keras(monkeypatch, "jax")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    with pytest.warns(_backend.BackendWarning, match="KERAS_BACKEND=torch"):
        assert _backend.select_backend() == "jax"


def test_silent_when_keras_was_imported_first_with_torch(monkeypatch, recwarn):
    _fake_keras(monkeypatch, "torch")
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert _backend.select_backend() == "torch"
    assert not [w for w in recwarn if issubclass(w.category, _backend.BackendWarning)]


def test_silent_when_the_user_chose_the_other_backend(monkeypatch, recwarn):
    _fake_keras(monkeypatch, "jax")
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert _backend.select_backend() == "jax"
    assert not [w for w in recwarn if issubclass(w.category, _backend.BackendWarning)]
