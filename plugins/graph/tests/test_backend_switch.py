"""The backend switch: context manager, environment variable, errors."""

from __future__ import annotations

import pytest

from matforge_graph.backend import ENV_VAR, get_backend, refresh_environment, use_backend


@pytest.fixture(autouse=True)
def restore_environment_default():
    yield
    refresh_environment()  # after monkeypatch has restored the variable


def test_native_by_default(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    refresh_environment()
    assert get_backend() == "native"


def test_environment_variable_selects_the_backend(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "DGL")
    refresh_environment()
    assert get_backend() == "dgl"


def test_context_manager_overrides_environment_and_restores(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "dgl")
    refresh_environment()
    with use_backend("native"):
        assert get_backend() == "native"
        with use_backend("dgl"):
            assert get_backend() == "dgl"
        assert get_backend() == "native"
    assert get_backend() == "dgl"


def test_unknown_backend_in_environment_names_the_variable(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "pyg")
    refresh_environment()  # does not raise: listing plugins must survive a typo
    with pytest.raises(ValueError, match=f"{ENV_VAR} must be one of"):
        get_backend()


def test_unknown_backend_is_rejected_on_entry():
    with pytest.raises(ValueError, match="backend must be one of"):
        with use_backend("pyg"):
            pass
