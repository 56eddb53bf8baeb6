"""Run every benchmark and write one report: ``bench-report.md`` and ``bench-report.json``.

Each ``benchmarks/bench_*.py`` runs in its own process (one thread: ``OMP_NUM_THREADS=1``);
its printed output goes into the Markdown report as it is, and the figures it records with
:func:`_report.record` (value, unit, the peer measured in the same run and the ratio) into the
JSON and a summary table. The report starts with the machine and the versions it ran on.

    python benchmarks/report.py [--out DIR] [--only NAME ...] [-- extra args for every script]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import FIGURES_ENV

HERE = Path(__file__).resolve().parent
PACKAGES = ("matforge", "matforge-graph", "matforge-pointcloud", "matforge-egnn", "matforge-megnet",
            "matforge-gala", "torch", "pytorch-lightning", "numpy", "vesin", "ase", "dgl")  # fmt: skip


def machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "gpu": gpu, "python": platform.python_version(),
            "platform": platform.platform(), "load_average": os.getloadavg(), "versions": versions}  # fmt: skip


def run_script(script: Path, extra: list[str]) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl", delete=False) as figures:
        env = {**os.environ, "OMP_NUM_THREADS": "1", FIGURES_ENV: figures.name, "PYTHONUNBUFFERED": "1"}
        start, cpu = time.perf_counter(), time.process_time()
        done = subprocess.run([sys.executable, str(script), *extra], env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        recorded = [json.loads(line) for line in Path(figures.name).read_text().splitlines() if line.strip()]
    os.unlink(figures.name)
    print(done.stdout, end="")
    if done.returncode:
        print(done.stderr[-3000:], file=sys.stderr)
    return {"script": script.name, "returncode": done.returncode, "wall_seconds": round(seconds, 1),
            "stdout": done.stdout, "stderr_tail": done.stderr[-2000:] if done.returncode else "",
            "figures": recorded, "parent_cpu_seconds": round(time.process_time() - cpu, 2)}  # fmt: skip


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = [f"# matforge benchmark report ({report['created']})", "",
             f"Machine: {m['cpu']}, {m['cores']} cores" + (f", GPU {m['gpu']}" if m["gpu"] else ", no GPU")
             + f"; Python {m['python']}; load average at start {m['load_average'][0]:.1f}.", "",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in m["versions"].items()), "",
             "Ratios are against a peer measured in the same run (> 1: matforge ahead); figures "
             "quoted from elsewhere appear as context only.", "",
             "| benchmark | figure | ours | peer (same run) | ratio |", "|---|---|---|---|---|"]  # fmt: skip
    for result in report["benchmarks"]:
        for f in result["figures"]:
            peer = "" if f["peer_value"] is None else f"{f['peer']}: {f['peer_value']:.4g} {f['unit']}"
            ratio = "" if f["ratio"] is None else f"{f['ratio']:.2f}×"
            lines.append(f"| {f['benchmark']} | {f['name']} | {f['value']:.4g} {f['unit']} | {peer} | {ratio} |")
    for result in report["benchmarks"]:
        status = "ok" if result["returncode"] == 0 else f"FAILED (exit {result['returncode']})"
        lines += ["", f"## {result['script']} — {status}, {result['wall_seconds']} s", "", "```",
                  result["stdout"].rstrip() or "(no output)", "```"]  # fmt: skip
        if result["stderr_tail"]:
            lines += ["", "```", result["stderr_tail"].rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("."), help="folder for bench-report.{md,json}")
    parser.add_argument("--only", nargs="*", default=None, help="run only these scripts (bench_NAME or NAME)")
    parser.add_argument("extra", nargs="*", help="arguments passed to every script (after --)")
    args = parser.parse_args()
    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        wanted = {n if n.startswith("bench_") else f"bench_{n}" for n in args.only}
        scripts = [s for s in scripts if s.stem in wanted]
    report = {"created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(), "benchmarks": []}  # fmt: skip
    for script in scripts:
        print(f"==> {script.name}", flush=True)
        report["benchmarks"].append(run_script(script, args.extra))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench-report.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "bench-report.md").write_text(markdown(report))
    failed = [r["script"] for r in report["benchmarks"] if r["returncode"]]
    print(f"wrote {args.out / 'bench-report.md'} and {args.out / 'bench-report.json'}"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
