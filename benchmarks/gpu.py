"""The GPU figures in one go, for a session that has a GPU: per model, structures/s of
forward+forces and of a force-training step, fp32 and bf16 autocast, eager and
``torch.compile``; and the bf16 force error against fp32 on the same batch.

The batch: 32 emt-s2ef training frames (934 atoms). Medians of ``--repeats`` timed runs after
warm-up, synchronised with the device. Writes ``gpu-report.json`` (and prints a table).

    python benchmarks/gpu.py [--models egnn-paper megnet-paper gala-paper] [--device cuda] [--out DIR]

``--device cpu --repeats 1 --no-compile`` runs it anywhere (the CI smoke test does).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from matforge.data import open_dataset
from matforge.interfaces import build_representation
from matforge.registry import registry
from matforge.tasks import EnergyForceTask

DEFAULT_MODELS = ("egnn-paper", "megnet-paper", "gala-paper")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up (and compilation)
    fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def model_figures(name: str, device: torch.device, repeats: int, compile_: bool, frames: int) -> dict:
    torch.manual_seed(0)
    task = EnergyForceTask(name)
    data = open_dataset("devset:emt-s2ef/train")
    task.set_statistics(data.statistics)
    representation = build_representation(task.backbone)
    batch = representation.collate([representation(data[i]) for i in range(frames)]).to(device)
    task = task.to(device)
    optimiser = torch.optim.AdamW(task.parameters(), lr=1e-4)
    out: dict = {"model": name, "structures": frames, "atoms": int(batch.num_atoms.sum())}

    variants = [("eager", task._predict)]
    if compile_:
        variants.append(("compiled", torch.compile(task._predict, dynamic=True)))
    for label, predict in variants:
        for precision, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
            def forward_forces(predict=predict, dtype=dtype):
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    return predict(batch, create_graph=False)

            def train_step(predict=predict, dtype=dtype):
                optimiser.zero_grad()
                with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                    loss = task._losses(predict(batch, create_graph=True), batch)["loss"]
                loss.backward()
                optimiser.step()

            try:
                out[f"{label}_{precision}_forward_forces_structures_per_s"] = frames / timed(forward_forces, device, repeats)
                out[f"{label}_{precision}_train_step_structures_per_s"] = frames / timed(train_step, device, repeats)
            except Exception as exc:  # report and go on: one failing variant must not hide the rest
                out[f"{label}_{precision}_error"] = f"{type(exc).__name__}: {exc}"[:300]
    task.eval()
    reference = task._predict(batch, create_graph=False)["forces"].double()
    with torch.autocast(device.type, dtype=torch.bfloat16):
        forces = task._predict(batch, create_graph=False)["forces"].double()
    out["bf16_force_rel_rms_error"] = float((forces - reference).pow(2).mean().sqrt() / reference.pow(2).mean().sqrt())
    out["bf16_force_max_abs_error_eV_per_A"] = float((forces - reference).abs().max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS))
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--frames", type=int, default=32)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("."))
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run with --device cpu for a smoke run")
    installed = set(registry.names("model"))
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__, "models": []}  # fmt: skip
    for name in args.models:
        if name not in installed:
            print(f"{name}: not installed, skipped")
            continue
        figures = model_figures(name, device, args.repeats, not args.no_compile, args.frames)
        report["models"].append(figures)
        print(json.dumps(figures, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu-report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out / 'gpu-report.json'}")


if __name__ == "__main__":
    main()
