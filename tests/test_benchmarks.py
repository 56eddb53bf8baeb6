"""The benchmark harness: the report collects every script's figures; gpu.py runs anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.slow
def test_the_report_collects_figures_and_output(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "report.py"), "--out", str(tmp_path),
                           "--only", "lmdb_decode"], capture_output=True, text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "bench-report.json").read_text())
    assert report["machine"]["cores"] >= 1 and "torch" in report["machine"]["versions"]
    (result,) = report["benchmarks"]
    figures = {f["name"]: f for f in result["figures"]}
    assert all(f["peer_value"] > 0 and f["ratio"] > 0 for f in figures.values())
    markdown = (tmp_path / "bench-report.md").read_text()
    assert "## bench_lmdb_decode.py — ok" in markdown and "| bench_lmdb_decode |" in markdown


@pytest.mark.slow
def test_gpu_figures_script_runs_on_cpu(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "gpu.py"), "--device", "cpu", "--repeats", "1",
                           "--frames", "2", "--no-compile", "--models", "egnn-paper", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    (model,) = json.loads((tmp_path / "gpu-report.json").read_text())["models"]
    assert model["eager_fp32_train_step_structures_per_s"] > 0
    assert 0 < model["bf16_force_rel_rms_error"] < 1


@pytest.mark.slow
def test_evaluate_benchmark_prints_its_ratio(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "bench_evaluate.py"), "--model", "toy-pair",
                           "--repeats", "1"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio evaluate / forward+forces:" in done.stdout
