"""`matforge bench scaling`: the power-law fit, the process counts, and one real run."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from matforge.bench.scaling import default_counts, fit_power_law


def test_the_fit_recovers_alpha_and_beta():
    n = np.array([1, 2, 4, 8, 16])
    law = fit_power_law(n, 120.0 * n**-0.59 * np.exp(np.random.default_rng(0).normal(0, 0.01, n.size)))
    assert law.beta == pytest.approx(0.59, abs=0.02)
    assert law.alpha == pytest.approx(120.0, rel=0.03)
    assert 0.99 < law.r2 <= 1.0


def test_no_scaling_is_beta_zero_and_a_poor_fit_has_low_r2():
    assert fit_power_law([1, 2, 4], [10.0, 10.0, 10.0]).beta == pytest.approx(0.0, abs=1e-12)
    assert fit_power_law([1, 2, 4, 8], [10.0, 3.0, 12.0, 2.0]).r2 < 0.6


def test_one_count_cannot_be_fitted():
    with pytest.raises(ValueError, match="two different process counts"):
        fit_power_law([2, 2], [1.0, 1.1])


@pytest.mark.parametrize(("limit", "counts"), [(1, [1]), (2, [1, 2]), (6, [1, 2, 4, 6]), (8, [1, 2, 4, 8])])
def test_counts_double_up_to_what_the_machine_has(limit, counts):
    assert default_counts(limit) == counts


@pytest.mark.slow
def test_bench_scaling_runs_one_and_two_processes_and_writes_its_report(tmp_path, job_env):
    command = [sys.executable, "-m", "matforge.cli.main", "bench", "scaling", "--model", "toy-pair",
               "--task", "is2re", "--data", "devset:emt-is2re", "--processes", "1", "2", "--epochs", "2",
               "--max-batches", "4", "--out", str(tmp_path / "scaling")]  # fmt: skip
    done = subprocess.run(command, env=job_env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "scaling" / "scaling.json").read_text())
    assert [p["processes"] for p in report["points"]] == [1, 2]
    assert all(p["epoch_seconds"] > 0 and len(p["epoch_seconds_all"]) == 2 for p in report["points"])
    assert report["fit"]["r2"] == pytest.approx(1.0)
    assert "two points" in report["note"]
    assert "fit: t =" in done.stdout
    assert (tmp_path / "scaling" / "scaling.png").stat().st_size > 1000
