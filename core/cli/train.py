"""``matforge fit | validate | test | predict``: Lightning's CLI with matforge's defaults.

The task (a LightningModule) is ``--model`` in subclass mode and the DataModule is ``--data``;
registry names work as shorthands (see :mod:`matforge.cli.shorthands`). Every run writes into
its own run directory (see :mod:`matforge.training.rundir`), printed at start and end.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytorch_lightning import LightningDataModule, LightningModule, Trainer
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from matforge.training.defaults import (
    default_callbacks,
    default_loggers,
    flag_enabled,
    quiet_lightning,
)
from matforge.training.prediction_writer import PredictionWriter, predictions_folder
from matforge.training.resume import RunRecord, check_same_data, choose_resumable
from matforge.training.rundir import RUN_DIR_ENV, RunDirectory

DEFAULT_SEED = 0


class RunConfigCallback(SaveConfigCallback):
    """Saves the resolved configuration as ``config.yaml`` in the run directory."""

    def __init__(self, parser: LightningArgumentParser, config: Any, run: RunDirectory | None = None) -> None:
        super().__init__(parser, config, overwrite=True, save_to_log_dir=False)
        self.run = run

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self.run is not None:
            self.run.path.mkdir(parents=True, exist_ok=True)
            # skip_unset=False: keep the options left at None, so the file reproduces the run.
            self.parser.save(self.config, self.run.config, skip_unset=False, overwrite=True)


class MatforgeCLI(LightningCLI):
    """LightningCLI with run directories, default loggers/callbacks and compatibility checks."""

    def __init__(self, args: Sequence[str], **kwargs: Any) -> None:
        self.run: RunDirectory | None = None
        self.prediction_writer: PredictionWriter | None = None
        self.predictions_dir: Path | None = None
        super().__init__(
            model_class=_task_base_class(),
            datamodule_class=_datamodule_base_class(),
            subclass_mode_model=True,
            subclass_mode_data=True,
            save_config_callback=RunConfigCallback,
            seed_everything_default=DEFAULT_SEED,
            parser_kwargs={
                "prog": "matforge",
                "exit_on_error": False,
                **{c: {"exit_on_error": False, "description": _description(c)} for c in self.subcommands()},
            },
            auto_configure_optimizers=False,
            args=list(args),
            **kwargs,
        )

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--runs_root",
            type=str,
            default="runs",
            help="Folder holding the run directories (--trainer.default_root_dir, when given, takes precedence).",
        )
        parser.add_argument(
            "--run_dir",
            type=str | None,
            default=None,
            help="Run directory to use (default: <runs root>/<task>-<backbone>-<timestamp>).",
        )
        parser.add_argument(
            "--early_stopping",
            type=int | None,
            default=None,
            help="Stop after this many epochs without a lower validation loss (default: never).",
        )

    # -- parsing ----------------------------------------------------------------------------

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, check a ``--ckpt_path`` file, then fill in the backbone's defaults
        (``backbone_args`` as resolved), so that ``--print_config`` and the run's
        ``config.yaml`` show every backbone argument. ``--print_config`` is printed here,
        after that, rather than by jsonargparse during parsing;
        ``--print_config=skip_null,skip_default`` work as jsonargparse's."""
        args = list(args)
        flags = [a for a in args if a == "--print_config" or a.startswith("--print_config=")]
        for flag in flags:
            args.remove(flag)
        super().parse_arguments(parser, args)
        # LightningCLI next reads --ckpt_path's hyperparameters (importing their _class_path):
        # check the file first, wherever the path came from (command line or config file).
        from matforge.cli.shorthands import checked_checkpoint

        subcommand = self.config.get("subcommand")
        ckpt_path = self.config[subcommand].get("ckpt_path") if subcommand else None
        if ckpt_path and os.path.isfile(ckpt_path):
            checked_checkpoint(ckpt_path)
        resolve_backbone_args(self.config.get(str(subcommand), self.config))
        if flags:
            import yaml

            options = {o for flag in flags for o in flag.partition("=")[2].split(",") if o}
            dumped = yaml.safe_load(parser.dump(
                self.config,
                skip_unset=bool(options & {"skip_null", "skip_unset"}),
                skip_default="skip_default" in options,
                skip_link_targets=False,
            ))
            dumped = dumped.get(subcommand, dumped)
            print(yaml.safe_dump(dumped, sort_keys=False, allow_unicode=True), end="")
            raise SystemExit(0)

    # -- run directory ----------------------------------------------------------------------

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand]
        if self.subcommand in ("validate", "test"):
            config.verbose = False  # matforge prints its own table (after_validate)
        checkpoint = config.get("ckpt_path")
        if self.subcommand == "predict" and not config.get("run_dir") and checkpoint and Path(checkpoint).is_file():
            # predictions of a checkpoint go next to it, not into a new run directory
            self.run, self.predictions_dir = None, predictions_folder(checkpoint)
        else:
            self.run = self._choose_run_directory(config)
        self.save_config_kwargs = {"run": self.run}

    def _choose_run_directory(self, config: Any) -> RunDirectory:
        inherited = os.environ.get(RUN_DIR_ENV)
        if inherited and _is_worker_process():
            return RunDirectory(Path(inherited))
        task, model = run_names(config)
        root = runs_root(config)
        if config.get("run_dir"):
            run = RunDirectory(Path(config.run_dir))
        elif self.subcommand == "fit" and config.get("ckpt_path") == "last":
            run = choose_resumable(root, run_record(config))
        else:
            label = model if self.subcommand == "fit" else f"{model}-{self.subcommand}"
            run = RunDirectory.new(root, task, label)
        if self.subcommand == "fit" and config.get("ckpt_path") == "last":
            check_same_data(run, run_record(config))
            config.ckpt_path = str(run.last_checkpoint)
        os.environ[RUN_DIR_ENV] = str(run.path)
        return run

    # -- trainer ----------------------------------------------------------------------------

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        check_representation(self.model, self.datamodule)
        trainer_config = self.config_init[self.subcommand].get("trainer") or {}
        run = self.run
        if run is not None:
            run.make()
            # --trainer.default_root_dir chose the runs root; what Lightning writes by itself
            # goes into this run's directory.
            kwargs["default_root_dir"] = str(run.path)
            if trainer_config.get("logger") in (None, True):
                kwargs["logger"] = default_loggers(run)
        elif self.predictions_dir is not None and trainer_config.get("logger") in (None, True):
            kwargs["logger"] = False
        extra = default_callbacks(
            run,
            monitor=getattr(self.model, "monitor", None),
            progress_bar=flag_enabled(trainer_config, "enable_progress_bar"),
            checkpoints=self.subcommand == "fit" and flag_enabled(trainer_config, "enable_checkpointing"),
            model_summary=self.subcommand == "fit" and flag_enabled(trainer_config, "enable_model_summary"),
            early_stopping=self.config[self.subcommand].get("early_stopping") if self.subcommand == "fit" else None,
        )
        folder = self.predictions_dir or (run.path / "predictions" if run is not None else None)
        if self.subcommand == "predict" and folder is not None:
            self.prediction_writer = PredictionWriter(folder)
            extra.append(self.prediction_writer)
        configured = trainer_config.get("callbacks") or []
        kwargs["callbacks"] = [*(configured if isinstance(configured, list) else [configured]), *extra]
        kwargs["plugins"] = with_safe_checkpoint_io(trainer_config.get("plugins"))
        return super().instantiate_trainer(**kwargs)

    # -- messages ---------------------------------------------------------------------------

    def before_fit(self) -> None:
        self._say(f"run directory: {self.run.path}" if self.run else "")

    def after_fit(self) -> None:
        if self.run is None:
            return
        lines = [f"run directory: {self.run.path}"]
        callback = self.trainer.checkpoint_callback
        if self.run.best_checkpoint.is_file():
            score = getattr(callback, "best_model_score", None)
            detail = f" ({callback.monitor} = {float(score):.4g})" if score is not None and callback.monitor else ""
            lines.append(f"best checkpoint: {self.run.best_checkpoint}{detail}")
        if self.run.last_checkpoint.is_file():
            lines.append(f"last checkpoint: {self.run.last_checkpoint}")
        self._say("\n".join(lines))

    def before_validate(self) -> None:
        self.before_fit()

    def after_validate(self) -> None:
        self._print_table()

    def before_test(self) -> None:
        self.before_fit()

    def after_test(self) -> None:
        self._print_table()

    def _print_table(self) -> None:
        """The logged metrics as matforge's table (one column per named set, full names)."""
        from matforge.training.table import MetricsTable

        if not self.trainer.is_global_zero:
            return
        logged = {k: float(v) for k, v in self.trainer.callback_metrics.items()}
        table = MetricsTable.from_logged(logged)
        if table.metrics:
            table.print(title=f"matforge {self.subcommand}")

    def before_predict(self) -> None:
        self.before_fit()

    def after_predict(self) -> None:
        if self.prediction_writer is not None:
            for path in self.prediction_writer.written:
                self._say(f"predictions: {path}")

    def _say(self, text: str) -> None:
        if text and self.trainer.is_global_zero:
            print(text, flush=True)


# -- helpers --------------------------------------------------------------------------------


SHORTHAND_HELP = (
    "Shorthands (rewritten before parsing): --task NAME (is2re, s2ef, property) sets the task "
    "class (Lightning's --model: the LightningModule); --backbone NAME (or --model NAME) a "
    "registered backbone, the network the task trains (matforge list backbone; its arguments: "
    "matforge list backbone NAME); --data devset:NAME or --data DIR the matforge DataModule on "
    "that dataset; --seed N; --deterministic. Runs write to <runs root>/<task>-<backbone>-<timestamp> "
    "(runs root: --trainer.default_root_dir, default ./runs) unless --run_dir is given; "
    "--ckpt_path last resumes the one run recorded with the same task, backbone and data (several: say "
    "which with --run_dir). --early_stopping N stops after N epochs without a lower val/loss. Add --debug "
    "for tracebacks."
)


def _description(subcommand: str) -> str:
    return f"{subcommand.capitalize()} a matforge task (Lightning CLI). {SHORTHAND_HELP}"


def _task_base_class() -> type[LightningModule]:
    from matforge.tasks.base import AtomisticTask

    return AtomisticTask


def _datamodule_base_class() -> type[LightningDataModule]:
    from matforge.data.datamodule import AtomicDataModule

    return AtomicDataModule


def _is_worker_process() -> bool:
    """True in processes Lightning's DDP launcher started (they re-run the command line)."""
    return any(int(os.environ.get(var, "0") or 0) > 0 for var in ("LOCAL_RANK", "NODE_RANK", "GROUP_RANK"))


def run_names(config: Any) -> tuple[str, str]:
    """Registry names of the task and backbone in a parsed config, for the run directory name."""
    model = config.get("model") or {}
    class_path = model.get("class_path") if hasattr(model, "get") else None
    init_args = model.get("init_args") if hasattr(model, "get") else None
    backbone = init_args.get("backbone") if init_args is not None and hasattr(init_args, "get") else None
    return _task_name(class_path), backbone if isinstance(backbone, str) else "model"


def resolve_backbone_args(config: Any) -> None:
    """Set ``model.init_args.backbone_args`` of a parsed config to the registered backbone's
    arguments with defaults (an unknown one raises, listing the valid ones). Left alone when
    the backbone is not a registry name or a checkpoint will supply the arguments."""
    from matforge.interfaces import resolved_backbone_args
    from matforge.registry import registry

    model = config.get("model")
    init_args = model.get("init_args") if hasattr(model, "get") else None
    name = init_args.get("backbone") if hasattr(init_args, "get") else None
    ckpt = config.get("ckpt_path")
    if not isinstance(name, str) or (ckpt and os.path.isfile(str(ckpt))):
        return
    given = init_args.get("backbone_args") or {}
    if not isinstance(given, dict):
        given = dict(given)
    init_args["backbone_args"] = resolved_backbone_args(name, registry.get("backbone", name), given)


def runs_root(config: Any) -> str:
    """The folder holding the run directories: ``--trainer.default_root_dir`` when given (as a
    Lightning user expects), else ``--runs_root`` (default ``runs``)."""
    trainer = config.get("trainer") or {}
    given = trainer.get("default_root_dir") if hasattr(trainer, "get") else None
    return str(given) if given else str(config.get("runs_root") or "runs")


def run_record(config: Any) -> RunRecord:
    """Task class path, backbone name and data path of a parsed fit config (for resuming)."""
    model, data = config.get("model") or {}, config.get("data") or {}
    model_args = model.get("init_args") if hasattr(model, "get") else None
    data_args = data.get("init_args") if hasattr(data, "get") else None
    return RunRecord.from_parts(
        model.get("class_path") if hasattr(model, "get") else None,
        model_args.get("backbone") if model_args is not None and hasattr(model_args, "get") else None,
        data_args.get("path") if data_args is not None and hasattr(data_args, "get") else None,
    )


def _task_name(class_path: str | None) -> str:
    if not class_path:
        return "task"
    from matforge.registry import registry

    for info in registry.infos("task"):
        if info.target.replace(":", ".") == class_path:
            return info.name
    return class_path.rsplit(".", 1)[-1].lower()


def check_representation(task: Any, datamodule: Any) -> None:
    """Fail before any run directory exists when the data module is set up for another
    representation, or other settings, than the task's backbone consumes (the task checks
    again in setup)."""
    from matforge.data.representation import check_datamodule

    check_datamodule(datamodule, task.backbone)


def with_safe_checkpoint_io(plugins: Any) -> list[Any]:
    """The trainer's ``plugins`` with :class:`~matforge.checkpoint.SafeCheckpointIO` added,
    so that resuming from ``--ckpt_path`` loads with ``weights_only=True``; a configured
    checkpoint I/O plugin is kept (the user chose it)."""
    from lightning_fabric.plugins import CheckpointIO

    from matforge.checkpoint import SafeCheckpointIO

    given = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
    if any(isinstance(p, CheckpointIO) for p in given):
        return given
    return [*given, SafeCheckpointIO()]


def run_lightning_cli(args: Sequence[str]) -> int:
    """Run a training sub-command; returns the exit status (errors as one line, no traceback)."""
    from matforge.cli.errors import report_error
    from matforge.cli.shorthands import expand

    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended")
    quiet_lightning()
    try:
        expanded = expand(args)
        for note in expanded.notes:
            print(f"matforge: {note}", file=sys.stderr)
        MatforgeCLI(expanded.args)
    except argparse.ArgumentError as exc:
        command = args[0] if args else "fit"
        print(f"matforge {command}: error: {exc}\n(see 'matforge {command} --help')", file=sys.stderr)
        return 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        return report_error(exc, debug)
    finally:
        if not _is_worker_process():
            os.environ.pop(RUN_DIR_ENV, None)
    return 0
