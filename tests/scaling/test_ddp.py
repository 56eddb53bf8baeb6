"""DDP on CPU (gloo, 2 processes, Lightning's ``strategy="ddp"``): the same results as one
process, every structure once per epoch, one reader per rank, one writer for the run."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter

import pytest

from matforge.data import open_dataset

pytestmark = pytest.mark.slow


def read_json(path) -> dict:
    return json.loads(path.read_text())


def seen(out, rank: int, epoch: int = 0) -> list[str]:
    return read_json(out / f"seen-rank{rank}-epoch{epoch}.json")["sids"]


def train_sids(data: str) -> list[str]:
    return sorted(str(s.sid) for s in open_dataset(f"{data}/train"))


@pytest.fixture(scope="module")
def one_and_two_ranks(qm9_even, tmp_path_factory, job_env, job_script):
    """The same job on one process (batch 8) and on two DDP ranks (batch 4 each)."""
    out = tmp_path_factory.mktemp("ddp")
    runs = {}
    for name, devices, batch in (("one", "1", "8"), ("two", "2", "4")):
        command = [sys.executable, str(job_script), "--data", qm9_even, "--out", str(out / name),
                   "--devices", devices, "--batch-size", batch]  # fmt: skip
        done = subprocess.run(command, env=job_env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[name] = out / name
    return runs


def test_two_ranks_give_the_validation_metrics_of_one_process(one_and_two_ranks, qm9_even):
    """Ranks of batch 4 see, step by step, the same 8 structures a single process sees in a
    batch of 8 (both shuffle with Lightning's seed), so the averaged gradients, the weights and
    the validation metrics agree to float tolerance (21 validation structures: shares of 11
    and 10, counted exactly)."""
    one, two = one_and_two_ranks["one"], one_and_two_ranks["two"]
    single, ddp = read_json(one / "metrics.json"), read_json(two / "metrics.json")
    assert single["val/gap_mae"] > 0
    for name in ("val/gap_mae", "val/gap_rmse", "val/loss", "train/loss_epoch", "train/gap_mae"):
        assert ddp[name] == pytest.approx(single[name], rel=1e-4), name
    # the steps themselves: rank r's k-th batch is half of the single process's k-th batch
    assert sorted(seen(two, 0) + seen(two, 1)) == sorted(seen(one, 0)) == train_sids(qm9_even)


def test_each_rank_opens_its_own_lmdb_readers(one_and_two_ranks):
    handles = [read_json(one_and_two_ranks["two"] / f"handles-rank{r}.json") for r in (0, 1)]
    assert handles[0]["pid"] != handles[1]["pid"]
    for h in handles:
        assert h["reader_pid"] == h["pid"]


def test_fixed_batches_repeat_the_remainder_and_max_atoms_batches_do_not(qm9_odd, tmp_path, run_job):
    """47 structures on 2 ranks: Lightning's DistributedSampler pads with 1 repeated structure
    (ceil(47/2)·2 − 47); the max-atom sampler covers each structure exactly once, with the
    same number of batches on each rank."""
    fixed = run_job(qm9_odd, tmp_path / "fixed", "--devices", "2", "--batch-size", "4")
    counts = Counter(seen(fixed, 0) + seen(fixed, 1))
    assert sorted(counts) == train_sids(qm9_odd)
    assert sum(counts.values()) - len(counts) == 1

    packed = run_job(qm9_odd, tmp_path / "packed", "--devices", "2", "--max-atoms", "60", "--epochs", "2")
    for epoch in (0, 1):
        both = seen(packed, 0, epoch) + seen(packed, 1, epoch)
        assert sorted(both) == train_sids(qm9_odd), f"epoch {epoch}"
    assert seen(packed, 0, 0) != seen(packed, 0, 1)  # reshuffled per epoch
    steps = list(csv.DictReader((packed / "logs" / "metrics.csv").open()))
    assert steps  # rank 0 logged; equal batch counts are what let both ranks finish the epoch


def test_the_cli_writes_one_run_once_and_resumes_it_under_ddp(qm9_even, tmp_path, job_env):
    """Checkpoints and logs come from rank 0 only, into one run directory; resuming that run's
    last.ckpt under DDP continues at the next epoch and appends without duplicate rows."""
    base = [sys.executable, "-m", "matforge.cli.main", "fit", "--task", "property", "--model", "toy-pair",
            "--data", qm9_even, "--model.init_args.properties", "[gap]",
            "--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--data.init_args.batch_size", "4", "--run_dir", str(tmp_path / "run")]  # fmt: skip

    def fit(*extra: str) -> None:
        done = subprocess.run([*base, *extra], cwd=tmp_path, env=job_env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]

    fit("--trainer.max_epochs", "1")
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    fit("--trainer.max_epochs", "2", "--ckpt_path", str(run / "checkpoints" / "last.ckpt"))
    rows = list(csv.DictReader((run / "logs" / "metrics.csv").open()))
    epochs = [int(r["epoch"]) for r in rows if r.get("val/loss")]
    assert epochs == [0, 1]
    keys = [(r["epoch"], r["step"], tuple(k for k, v in r.items() if v)) for r in rows]
    assert len(keys) == len(set(keys)), "duplicated metric rows"
    assert [p.name for p in tmp_path.iterdir() if p.name != "run"] in ([], ["lightning_logs"])


def test_two_nodes_started_by_torchrun_train_one_epoch(qm9_even, tmp_path, job_env, job_script, free_port):
    """Two "nodes" on this machine: two torchrun launchers meeting at a c10d rendezvous on
    127.0.0.1, one process each; Lightning reads torchrun's environment."""
    port = free_port
    out = tmp_path / "nodes"
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "matforge-test",
               str(job_script), "--data", qm9_even, "--out", str(out),
               "--devices", "1", "--num-nodes", "2", "--batch-size", "4"]  # fmt: skip
    nodes = [subprocess.Popen(command, env=job_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]  # fmt: skip
    results = [node.communicate(timeout=600) for node in nodes]
    for node, (stdout, stderr) in zip(nodes, results):
        assert node.returncode == 0, stdout[-1500:] + stderr[-3000:]
    worlds = {read_json(out / f"seen-rank{r}-epoch0.json")["world_size"] for r in (0, 1)}
    assert worlds == {2}
    assert sorted(seen(out, 0) + seen(out, 1)) == train_sids(qm9_even)
    assert "val/gap_mae" in read_json(out / "metrics.json")


def test_a_model_defined_in_a_script_trains_with_ddp_spawn_and_reloads(qm9_even, tmp_path, job_env, job_script):
    script = job_script.with_name("script_model_job.py")
    done = subprocess.run([sys.executable, str(script), qm9_even, str(tmp_path)], env=job_env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backbone"] == "ScriptNet"
    assert result["max_diff"] < 1e-6
