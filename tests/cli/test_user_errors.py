"""A user's mistake gets one clear line, a bug its traceback; backbone arguments are checked,
shown resolved, and listed with their defaults and docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from matforge.batch import MissingTargetError
from matforge.cli.errors import report_error
from matforge.cli.shorthands import ShorthandError
from matforge.data.errors import DatasetError, DestinationExistsError, UnknownDevsetError
from matforge.data.importers.fields import RecordError
from matforge.errors import MatforgeUserError
from matforge.interfaces import BackboneArgumentError
from matforge.plugins import PluginError
from matforge.registry import ComponentLoadError, RegistryError, UnknownNameError, registry
from matforge.structure import StructureError
from matforge.tasks import RepresentationMismatchError
from matforge.tasks.normalisation import StatisticsError
from matforge.testing.toy import PairMLP
from matforge.training.plotting import PlottingUnavailableError


@pytest.mark.parametrize(
    "cls",
    [RegistryError, UnknownNameError, ComponentLoadError, DatasetError, DestinationExistsError, UnknownDevsetError,
     RecordError, StructureError, ShorthandError, RepresentationMismatchError, MissingTargetError, StatisticsError,
     PluginError, PlottingUnavailableError, BackboneArgumentError],
)
def test_every_expected_error_is_a_matforge_user_error(cls):
    assert issubclass(cls, MatforgeUserError)


def test_a_user_error_is_one_line(capsys):
    assert report_error(MissingTargetError("EnergyTask needs target 'energy'")) == 1
    assert capsys.readouterr().err == "matforge: error: EnergyTask needs target 'energy'\n"


def test_a_bug_prints_its_traceback_even_as_a_value_or_key_error(capsys):
    for exc in (KeyError("hidden"), ValueError("bad shape")):
        try:
            raise exc
        except Exception as caught:
            assert report_error(caught) == 1
        err = capsys.readouterr().err
        assert "Traceback (most recent call last)" in err
        assert f"matforge: internal error: {type(exc).__name__}" in err and "This is a bug" in err


def test_a_user_error_a_library_wrapped_is_still_one_line(capsys):
    try:
        try:
            raise UnknownNameError("unknown model 'x'")
        except UnknownNameError as inner:
            raise ValueError("Does not validate against any of the Union subtypes ...") from inner
    except ValueError as outer:
        assert report_error(outer) == 1
    assert capsys.readouterr().err == "matforge: error: unknown model 'x'\n"


def test_debug_shows_the_traceback_of_a_user_error(capsys):
    try:
        raise ShorthandError("--task expects a value")
    except ShorthandError as exc:
        report_error(exc, debug=True)
    assert "Traceback" in capsys.readouterr().err


class KeyErrorInForward(PairMLP):
    """A plugin bug: forward looks up a key that is not there."""

    def forward(self, batch):
        return {}["hidden"]


@pytest.fixture
def buggy_backbone():
    registry.register("model", "buggy-forward", KeyErrorInForward, override=True)
    yield
    registry.unregister("model", "buggy-forward")


def test_a_bug_in_a_plugins_forward_shows_its_traceback(matforge, cluster_data, capsys, fast, buggy_backbone):
    assert matforge("fit", "--task", "is2re", "--backbone", "buggy-forward", "--data", cluster_data, *fast) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and 'return {}["hidden"]' in err
    assert "matforge: internal error: KeyError: 'hidden'" in err


def test_a_missing_data_path_gets_the_friendly_message(matforge, capsys):
    assert matforge("fit", "--task", "is2re", "--backbone", "toy-pair", "--data", "./missing") == 1
    err = capsys.readouterr().err
    assert err.startswith("matforge: error: --data ./missing: no such dataset path (use devset:NAME")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "option",
    [["--model.init_args.backbone_args.hiden", "8"], ["--model.init_args.backbone_args", "{hiden: 8}"]],
)
def test_a_typo_in_a_backbone_argument_names_it_and_lists_the_valid_ones(matforge, cluster_data, capsys, option):
    assert matforge("fit", "--task", "is2re", "--backbone", "toy-pair", "--data", cluster_data, *option) == 1
    err = capsys.readouterr().err
    assert "backbone 'toy-pair' has no argument 'hiden' (did you mean 'hidden'?)" in err
    assert "Its arguments: hidden, num_radial, cutoff, output, width" in err
    assert "Traceback" not in err and not Path("runs").exists()


def test_a_typo_in_a_config_files_backbone_arguments_is_caught_when_building(tmp_path):
    from matforge.models import build_backbone

    with pytest.raises(BackboneArgumentError, match="has no argument 'widht' \\(did you mean 'width'\\?\\)"):
        build_backbone("toy-pair", widht=3)


def test_print_config_shows_the_backbones_resolved_arguments(matforge, cluster_data, capsys):
    assert matforge("fit", "--task", "is2re", "--backbone", "toy-pair", "--data", cluster_data,
                    "--model.init_args.backbone_args.hidden", "8", "--print_config") == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["model"]["init_args"]["backbone_args"] == {
        "hidden": 8, "num_radial": 8, "cutoff": 5.0, "output": "energy", "width": 16,
    }


def test_the_run_records_the_resolved_backbone_arguments(matforge, cluster_data, fast):
    assert matforge("fit", "--task", "is2re", "--backbone", "toy-pair", "--data", cluster_data, *fast,
                    "--trainer.max_epochs", "1") == 0
    (run,) = Path("runs").iterdir()
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["model"]["init_args"]["backbone_args"]["num_radial"] == 8
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["hyper_parameters"]["backbone_args"]["cutoff"] == 5.0


def test_backbone_and_model_shorthands_are_the_same(matforge, cluster_data, capsys):
    printed = []
    for option in ("--backbone", "--model"):
        assert matforge("fit", "--task", "is2re", option, "toy-pair", "--data", cluster_data, "--print_config") == 0
        printed.append(capsys.readouterr().out)
    assert printed[0] == printed[1]


def test_default_root_dir_is_the_runs_root(matforge, cluster_data, fast):
    assert matforge("fit", "--task", "is2re", "--backbone", "toy-pair", "--data", cluster_data, *fast,
                    "--trainer.max_epochs", "1", "--trainer.default_root_dir", "elsewhere") == 0
    assert not Path("runs").exists()
    (run,) = Path("elsewhere").iterdir()
    assert run.name.startswith("is2re-toy-pair-") and (run / "checkpoints" / "last.ckpt").is_file()


def test_list_one_backbone_shows_arguments_defaults_and_docs(matforge, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "240")  # rich wraps to the terminal width
    assert matforge("list", "backbone", "toy-pair", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    arguments = {a["name"]: a for a in shown["arguments"]}
    assert shown["kind"] == "backbone" and shown["name"] == "toy-pair"
    assert arguments["cutoff"]["default"] == 5.0 and arguments["cutoff"]["type"] == "float"
    assert "cosine envelope" in arguments["cutoff"]["doc"]
    assert matforge("list", "model", "toy-pair") == 0
    table = capsys.readouterr().out
    assert "num_radial" in table and "Gaussian radial basis" in table
