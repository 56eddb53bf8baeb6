"""The README runs as written.

* Python blocks: each ``##`` section's blocks run in one namespace, in a fresh working
  directory. The plugin section's run in a fresh interpreter with ``examples/plugin``
  installed and e3nn hidden (e3nn is optional), and its ``BackboneContract`` class runs under
  pytest. A block right after ``<!-- skip-test -->`` is not run.
* Shell blocks: every command has an entry in :data:`COMMANDS`, saying either how it runs
  (options appended to keep it small, text its output must show) or why it is not run; a
  command without one fails, so a new snippet cannot go untested unnoticed. A block's commands
  run in order, as ``bash -c``, in a working directory holding what they name (the configs
  and small generated OC20 and matsciml LMDBs and an ASE trajectory), and must exit with 0.
* Every repository path the README names exists.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TEXT = README.read_text()


def fenced(language: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- skip-test -->\s*)?^[ \t]*```{language}\n(.*?)^[ \t]*```", re.S | re.M)


def blocks_by_section(text: str, language: str) -> dict[str, list[str]]:
    """``{section title: [dedented code of each block in that language]}``."""
    sections: dict[str, list[str]] = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        title = part.splitlines()[0].strip()
        blocks = [textwrap.dedent(code) for skip, code in fenced(language).findall(part) if not skip]
        if blocks:
            sections[title] = blocks
    return sections


def shell_commands(code: str) -> list[str]:
    """The commands of a shell block: continuation lines joined, comments dropped, spaces
    collapsed (the form :data:`COMMANDS` is keyed by)."""
    joined = re.sub(r"\\\n", " ", code)
    commands = (re.sub(r"(^|\s)#.*$", "", line) for line in joined.splitlines())
    return [" ".join(c.split()) for c in commands if c.strip()]


#: The section whose examples need ``examples/plugin`` installed.
PLUGIN_SECTION = "Writing a plugin"
PYTHON = blocks_by_section(TEXT, "python")
SHELL = {
    (title, k): shell_commands(code)
    for title, codes in blocks_by_section(TEXT, "bash").items()
    for k, code in enumerate(codes)
}


@dataclass(frozen=True)
class Run:
    """Run the command with ``extra`` appended; its stdout must contain each of ``expect``
    and the files in ``creates`` (paths relative to the working directory) must exist."""

    extra: str = ""
    expect: tuple[str, ...] = ()
    creates: tuple[str, ...] = ()
    slow: bool = False


@dataclass(frozen=True)
class NotRun:
    reason: str


#: One epoch of two batches, one validation batch per set: every code path of a fit.
SHORT = "--trainer.max_epochs 1 --trainer.limit_train_batches 2 --trainer.limit_val_batches 1"
#: The run directory the README's validate/predict/evaluate/plot examples name.
RUN = "runs/is2re-egnn-paper-20260101-120000"
INSTALLS = "installs into the running environment; the nox sessions install these same paths"

COMMANDS: dict[str, Run | NotRun] = {
    # Quick start
    "pip install nox && nox -s demo": NotRun("nox builds its own environments; the lead's `nox -s demo` is this command"),
    "pip install nox && nox": NotRun("the whole test suite, this file included"),
    # Installing
    "pip install ./": NotRun(INSTALLS),
    "pip install ./plugins/graph ./plugins/egnn": NotRun(INSTALLS),
    "pip install './[plot,ase]'": NotRun(INSTALLS),
    # Data
    "matforge data info devset:emt-is2re": Run(expect=("val_ood_both", "energy_relaxed", "provenance")),
    "matforge data verify devset:emt-is2re": Run("--no-progress", expect=("statistics match the records",)),
    "matforge data import oc20_s2ef/ my-s2ef --format oc20": Run(
        "--no-progress", expect=("imported 20 structures",), creates=("my-s2ef/metadata.json",)
    ),
    "matforge data import data.lmdb lips --format matsciml --map forces=force --map energy=energy": Run(
        "--no-progress", expect=("imported 6 structures",)
    ),
    "matforge data import relax.traj my-frames --format ase": Run("--no-progress", expect=("imported 4 structures",)),
    "matforge data split my-s2ef my-splits --parts train=0.8 val=0.1 test=0.1 --seed 0": Run(
        "--no-progress",
        expect=("train: 16 structures", "val: 2 structures", "test: 2 structures"),
        creates=("my-splits/train/metadata.json", "my-splits/val/metadata.json", "my-splits/test/metadata.json"),
    ),
    "matforge data import qm9pack qm9 --format qm9": NotRun(
        "all 130,831 molecules: ~5 min of CPU; tests/data/test_qm9.py imports the same CSVs with --limit"
    ),
    "matforge data split qm9 qm9-splits --parts train=110000 val=10000 test=rest --seed 0": NotRun(
        "needs the full QM9 import above; tests/data/test_split_and_info.py covers counts and 'rest'"
    ),
    # Training from the command line
    "matforge fit --model egnn --task s2ef --data devset:emt-s2ef": Run(SHORT, slow=True),
    "matforge fit --config configs/is2re-egnn-paper.yaml": Run(
        f"{SHORT} --run_dir {RUN}",
        expect=(f"run directory: {RUN}",),
        creates=tuple(f"{RUN}/{f}" for f in ("config.yaml", "checkpoints/best.ckpt", "checkpoints/last.ckpt", "logs/metrics.csv")),
        slow=True,
    ),
    "matforge fit --config configs/s2ef-egnn-paper.yaml --model.init_args.lr 1e-3 --data.init_args.batch_size 16 "
    "--trainer.max_epochs 50 --trainer.devices 4": Run(f"--trainer.devices 1 {SHORT}", slow=True),
    "matforge fit --config configs/is2re-egnn-paper.yaml --print_config > my.yaml": Run(creates=("my.yaml",), slow=True),
    "matforge fit --config configs/is2re-egnn-paper.yaml --ckpt_path last": Run(
        "--trainer.max_epochs 2 --trainer.limit_train_batches 2 --trainer.limit_val_batches 1", slow=True
    ),
    f"matforge validate --ckpt_path {RUN}/checkpoints/best.ckpt --data devset:emt-is2re": Run(slow=True),
    f"matforge predict --ckpt_path {RUN}/checkpoints/best.ckpt --data devset:emt-is2re "
    "--data.init_args.predict devset:emt-is2re/val_id": Run(creates=(f"{RUN}/predictions/val_id.npz",), slow=True),
    f"matforge evaluate {RUN} --splits val_id val_ood_both": Run(expect=("val_id", "val_ood_both"), slow=True),
    f"matforge evaluate {RUN}": Run(
        expect=("energy_mae", "val_ood_both"),
        creates=(f"{RUN}/evaluation/metrics.csv", f"{RUN}/evaluation/metrics.json", f"{RUN}/evaluation/predictions/val_id.npz"),
        slow=True,
    ),
    f"matforge plot {RUN}": Run(
        creates=(f"{RUN}/plots/learning_curves.png", f"{RUN}/plots/parity_energy.png"), slow=True
    ),
    # Writing a plugin (run by test_readme_plugin_section_runs, with the example installed)
    "pip install ./examples/plugin": Run("--quiet --no-deps --no-build-isolation --target site", slow=True),
    "matforge plugins": Run(expect=("acme-pairpot",), slow=True),
    "matforge list backbone": Run(expect=("morse-pair",), slow=True),
    "matforge morse-curve": Run(expect=("E (eV)",), slow=True),
}


def test_the_sections_and_blocks_are_found():
    assert "Training from Python" in PYTHON and PLUGIN_SECTION in PYTHON
    assert {title for title, _ in SHELL} >= {"Quick start", "Data", "Training from the command line", PLUGIN_SECTION}


def test_every_shell_command_says_how_it_is_tested():
    written = [c for commands in SHELL.values() for c in commands]
    assert [c for c in written if c not in COMMANDS] == [], "add these README commands to COMMANDS"
    assert [c for c in COMMANDS if c not in written] == [], "COMMANDS lists commands the README no longer has"


def test_every_repository_path_the_readme_names_exists():
    named = set(re.findall(r"\]\(((?:docs|examples|plugins|configs|scripts|benchmarks|core|tests)/[^)\s]+)\)", TEXT))
    named |= set(re.findall(r"`((?:docs|examples|plugins|configs|scripts|benchmarks|tests)/[\w./-]+)`", TEXT))
    assert len(named) > 5
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


@pytest.mark.parametrize("section", sorted(set(PYTHON) - {PLUGIN_SECTION}))
def test_readme_python_blocks_run(section, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for code in PYTHON[section]:
        exec(compile(code, f"README.md ({section})", "exec"), namespace)


def readme_environment(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: this interpreter's scripts first, no MATFORGE_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATFORGE_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("OMP_NUM_THREADS", "1")
    return {**env, **extra}


def run_commands(commands: list[str], cwd: Path, env: dict[str, str]) -> None:
    for command in commands:
        how = COMMANDS[command]
        if isinstance(how, NotRun):
            continue
        line = f"{command} {how.extra}".strip()
        if ">" in command:  # the appended options go before the redirection
            head, _, target = command.partition(">")
            line = f"{head.strip()} {how.extra} > {target.strip()}"
        result = subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"$ {line}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        for text in how.expect:
            assert text in result.stdout, f"$ {line}\nprinted no {text!r}:\n{result.stdout[-3000:]}"
        assert [f for f in how.creates if not (cwd / f).exists()] == [], f"$ {line} did not write these"


def write_readme_inputs(folder: Path) -> None:
    """The files the README's data commands name: ``oc20_s2ef/`` (two OC20 S2EF LMDBs of 10
    structures), ``data.lmdb`` (6 matsciml records with ``energy`` and ``force``) and
    ``relax.traj`` (4 ASE frames with energies and forces)."""
    import ase.io
    import torch

    from .data.conftest import make_structure
    from .data.pyg_pickles import pyg2_pickle, write_lmdb

    def oc20_fields(seed: int) -> dict:
        s = make_structure(seed)
        return {
            "pos": torch.tensor(s.positions, dtype=torch.float32),
            "atomic_numbers": torch.tensor(s.atomic_numbers, dtype=torch.float32),
            "cell": torch.tensor(s.cell, dtype=torch.float32)[None],
            "natoms": s.num_atoms,
            "tags": torch.tensor(s.tags),
            "fixed": torch.tensor(s.fixed, dtype=torch.float32),
            "y": float(s.targets["energy"]),
            "force": torch.tensor(s.targets["forces"], dtype=torch.float32),
            "sid": seed,
            "fid": 0,
        }

    (folder / "oc20_s2ef").mkdir()
    for shard in range(2):
        records = [pyg2_pickle(oc20_fields(10 * shard + k)) for k in range(10)]
        write_lmdb(folder / "oc20_s2ef" / f"data.{shard:04d}.lmdb", records, length_key=True)
    matsciml = []
    for k in range(6):
        s = make_structure(k)
        matsciml.append(pickle.dumps({
            "pos": torch.tensor(s.positions), "atomic_numbers": torch.tensor(s.atomic_numbers),
            "cell": torch.tensor(s.cell), "pbc": torch.tensor([1, 1, 1]),
            "energy": float(s.targets["energy"]), "force": torch.tensor(s.targets["forces"]),
        }))  # fmt: skip
    write_lmdb(folder / "data.lmdb", matsciml)
    ase.io.write(folder / "relax.traj", [make_structure(k).to_ase() for k in range(4)])


def shell_cases():
    for (title, k), commands in sorted(SHELL.items()):
        if title == PLUGIN_SECTION or not any(isinstance(COMMANDS.get(c), Run) for c in commands):
            continue
        slow = any(isinstance(COMMANDS.get(c), Run) and COMMANDS[c].slow for c in commands)
        yield pytest.param(title, k, id=f"{title} {k}", marks=[pytest.mark.slow] if slow else [])


@pytest.mark.parametrize(("section", "block"), list(shell_cases()))
def test_readme_shell_blocks_run(section, block, tmp_path):
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    write_readme_inputs(tmp_path)
    run_commands(SHELL[section, block], tmp_path, readme_environment())


@pytest.mark.slow  # pip builds the example, then the whole contract runs twice: ~40 s
def test_readme_plugin_section_runs(tmp_path):
    """From a copy of the clone's example: ``pip install`` (into ``site/``, the shell block's
    appended options), ``matforge plugins`` and ``list``, the Python blocks with e3nn hidden,
    and the contract test class under pytest."""
    shutil.copytree(ROOT / "examples" / "plugin", tmp_path / "examples" / "plugin")
    env = readme_environment(PYTHONPATH=str(tmp_path / "site"))
    for (title, _), commands in sorted(SHELL.items()):
        if title == PLUGIN_SECTION:
            run_commands(commands, tmp_path, env)

    hide_e3nn = "import sys\nsys.modules['e3nn'] = None  # a user without the optional e3nn\n"
    script = hide_e3nn + "\n".join(PYTHON[PLUGIN_SECTION])
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "contract of backbone 'morse-pair'" in result.stdout and "failed" not in result.stdout

    contracts = [code for code in PYTHON[PLUGIN_SECTION] if "(BackboneContract)" in code]
    assert len(contracts) == 1
    (tmp_path / "conftest.py").write_text(hide_e3nn)
    (tmp_path / "test_readme_contract.py").write_text(contracts[0])
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_readme_contract.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout) and "failed" not in result.stdout
