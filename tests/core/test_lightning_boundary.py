"""Where matforge meets Lightning: public API only, except the CSV logger internals it pins
(``pytorch-lightning<2.7`` in pyproject.toml) and tests here and in tests/cli/test_rundir.py
(``test_resumed_csv_log_keeps_earlier_rows``); ``nox -s tests-latest`` runs these against the
newest Lightning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "core"

#: Lightning internals matforge still relies on, where, and why no public API does.
PINNED = {
    "core/training/defaults.py": {
        # an appending CSV writer for resumed runs: ExperimentWriter deletes metrics.csv
        "_check_log_dir_exists", "_fs", "_experiment", "metrics_file_path", "metrics_keys",
    },
}


@pytest.mark.parametrize(("pattern", "what"), [
    (r"\._get\(", "LightningCLI._get: use self.config_init[self.subcommand]"),
    (r"self\._trainer\b", "LightningModule._trainer: catch the RuntimeError of self.trainer"),
    (r"_subcommand_parsers", "LightningCLI._subcommand_parsers"),
])
def test_the_core_uses_no_unpinned_lightning_private(pattern, what):
    hits = [f"{p.relative_to(CORE.parent)}:{n}" for p in CORE.rglob("*.py")
            for n, line in enumerate(p.read_text().splitlines(), 1) if re.search(pattern, line)]
    assert hits == [], f"{what}: {hits}"


def test_the_pinned_internals_exist_in_the_installed_lightning(tmp_path):
    from pytorch_lightning.loggers import CSVLogger
    from pytorch_lightning.loggers.csv_logs import ExperimentWriter

    assert callable(ExperimentWriter._check_log_dir_exists)
    writer = ExperimentWriter(log_dir=str(tmp_path / "w"))
    assert hasattr(writer, "metrics_file_path") and hasattr(writer, "metrics_keys") and hasattr(writer, "_fs")
    logger = CSVLogger(save_dir=tmp_path, name="logs", version="")
    assert hasattr(logger, "_experiment") and hasattr(logger, "_fs")


def test_the_pinned_names_are_the_only_private_attributes_the_csv_logger_override_uses():
    source = (CORE / "training" / "defaults.py").read_text()
    used = set(re.findall(r"self\.(_?[a-z]\w*)", source[source.index("class _AppendingWriter"):source.index("def default_loggers")]))
    privates = {name for name in used if name.startswith("_")}
    assert privates <= PINNED["core/training/defaults.py"]


def test_lightning_has_an_upper_bound():
    text = (CORE.parent / "pyproject.toml").read_text()
    assert re.search(r'"pytorch-lightning>=[\d.]+,<[\d.]+"', text)
    assert re.search(r'"jsonargparse\[signatures\]>=[\d.]+,<5"', text)
