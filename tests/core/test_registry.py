"""The registry on its own: registering, looking up, and the errors users see."""

from __future__ import annotations

import sys
import types

import pytest

from matforge.registry import (
    ComponentLoadError,
    DuplicateNameError,
    PluginNotInstalledError,
    Registry,
    UnknownKindError,
    UnknownNameError,
)


@pytest.fixture
def registry() -> Registry:
    return Registry(discover=False)


class Model:
    """A model for tests."""


def test_get_returns_the_registered_object(registry):
    registry.register("model", "mlp", Model)
    assert registry.get("model", "mlp") is Model


def test_names_are_sorted_per_kind(registry):
    registry.register("model", "zeta", Model)
    registry.register("model", "alpha", Model)
    registry.register("task", "beta", Model)
    assert registry.names("model") == ["alpha", "zeta"]
    assert registry.names("task") == ["beta"]


def test_info_reports_provider_and_summary_from_docstring(registry):
    registry.register("model", "mlp", Model)
    info = registry.info("model", "mlp")
    assert info.summary == "A model for tests."
    assert info.plugin == "<user>"
    assert info.target.endswith(":Model")


def test_unknown_kind_lists_known_kinds_and_suggests(registry):
    with pytest.raises(UnknownKindError, match=r"unknown component kind 'modle'.*Did you mean 'model'.*backbone, dataset, representation, task \(model = backbone\)"):
        registry.names("modle")


def test_unknown_name_suggests_close_matches_and_lists_available(registry):
    registry.register("model", "schnet", Model)
    registry.register("model", "painn", Model)
    with pytest.raises(UnknownNameError, match=r"unknown model 'shnet'\. Did you mean 'schnet'\?.*Available models: painn, schnet"):
        registry.get("model", "shnet")


def test_unknown_name_with_nothing_registered_says_so(registry):
    with pytest.raises(UnknownNameError, match=r"\(none registered\)"):
        registry.get("dataset", "anything")


def test_a_missing_distribution_is_named_with_its_version_to_install(registry):
    error = registry.missing_plugin_error("model", "schnet", "acme-schnet-not-here", "1.2.3")
    assert isinstance(error, PluginNotInstalledError)
    assert "not installed" in str(error) and "pip install 'acme-schnet-not-here==1.2.3'" in str(error)


def test_an_installed_distribution_is_not_called_missing(registry):
    # pluggy is installed (and is no matforge plugin): the hint says so instead of "install it".
    error = str(registry.missing_plugin_error("model", "schnet", "pluggy"))
    assert "is installed (pluggy " in error and "not installed" not in error


def test_a_recorded_provider_turns_an_unknown_name_into_what_to_install(registry):
    with pytest.raises(PluginNotInstalledError, match=r"pip install 'acme-schnet-not-here==2\.0'"):
        registry.get("model", "schnet", distribution="acme-schnet-not-here", version="2.0")


def test_another_version_of_the_recorded_provider_warns(registry):
    from matforge.registry import RegistryVersionWarning, _Entry

    registry._add(_Entry("backbone", "schnet", Model, "", "acme", "acme-schnet", "1.1"), override=False, during_discovery=True)
    with pytest.warns(RegistryVersionWarning, match="recorded with acme-schnet 1.0; acme-schnet 1.1 is installed"):
        assert registry.get("model", "schnet", distribution="acme-schnet", version="1.0") is Model


def test_no_hard_coded_plugin_names_in_the_core(registry):
    # An empty registry knows nothing of matforge's own plugins: hints come from records and
    # installed distributions only.
    with pytest.raises(UnknownNameError) as info:
        registry.get("model", "egnn")
    assert not isinstance(info.value, PluginNotInstalledError)


def test_model_is_an_alias_of_the_backbone_kind(registry):
    registry.register("model", "schnet", Model)
    registry.register("backbone", "painn", Model)
    assert registry.names("model") == registry.names("backbone") == ["painn", "schnet"]
    assert registry.info("model", "painn").kind == "backbone"
    assert ("model", "schnet") in registry and ("backbone", "schnet") in registry
    assert "model" not in registry.kinds()


def test_registering_a_taken_name_raises_and_names_both_providers(registry):
    registry.register("model", "mlp", Model)
    with pytest.raises(DuplicateNameError, match=r"registered twice.*override=True"):
        registry.register("model", "mlp", object)
    assert registry.get("model", "mlp") is Model


def test_override_replaces_a_registration(registry):
    registry.register("model", "mlp", Model)
    registry.register("model", "mlp", dict, override=True)
    assert registry.get("model", "mlp") is dict


def test_aliases_resolve_to_the_component_and_clash_like_names(registry):
    registry.register("task", "s2ef", Model, aliases=("energy-forces",))
    assert registry.get("task", "energy-forces") is Model
    assert registry.names("task") == ["s2ef"]
    with pytest.raises(DuplicateNameError):
        registry.register("task", "energy-forces", dict)


def test_string_targets_are_imported_on_first_get_only(registry, monkeypatch):
    module = types.ModuleType("fake_heavy_module")
    module.Thing = Model
    calls = []

    def loader(name, *args, **kwargs):
        calls.append(name)
        return real_import(name, *args, **kwargs)

    import importlib

    real_import = importlib.import_module
    monkeypatch.setitem(sys.modules, "fake_heavy_module", module)
    monkeypatch.setattr(importlib, "import_module", loader)
    registry.register("model", "lazy", "fake_heavy_module:Thing", summary="lazy thing")
    assert registry.names("model") == ["lazy"]
    assert registry.info("model", "lazy").summary == "lazy thing"
    assert calls == []
    assert registry.get("model", "lazy") is Model
    assert calls == ["fake_heavy_module"]


def test_a_target_that_fails_to_import_raises_a_load_error_naming_it(registry):
    registry.register("model", "ghost", "no_such_module_anywhere:Ghost")
    with pytest.raises(ComponentLoadError, match=r"backbone 'ghost'.*no_such_module_anywhere:Ghost.*ModuleNotFoundError"):
        registry.get("model", "ghost")


def test_a_malformed_string_target_is_refused_at_registration(registry):
    with pytest.raises(ValueError, match=r"package\.module:attribute"):
        registry.register("model", "bad", "not_a_target")


@pytest.mark.parametrize("name", ["", "Upper", "has space", "slash/name"])
def test_names_must_be_simple_identifiers(registry, name):
    with pytest.raises(ValueError):
        registry.register("model", name, Model)


def test_new_kinds_can_be_added(registry):
    registry.add_kind("optimizer")
    registry.register("optimizer", "lion", Model)
    assert "optimizer" in registry.kinds()
    assert ("optimizer", "lion") in registry


def test_unregister_removes_name_and_aliases(registry):
    registry.register("model", "mlp", Model, aliases=("perceptron",))
    registry.unregister("model", "mlp")
    assert ("model", "mlp") not in registry
    assert ("model", "perceptron") not in registry


def test_global_registry_holds_the_core_builtins():
    import matforge

    assert {"is2re", "s2ef", "property"} <= set(matforge.registry.names("task"))
    assert "atoms" in matforge.registry.names("representation")
    assert matforge.registry.info("task", "is2re").distribution == "matforge"
