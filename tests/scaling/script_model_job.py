"""The LitMatter workflow: a backbone defined in a script (no package, no entry point),
registered at run time, trained with DDP (spawn) and reloaded from its checkpoint here."""

from __future__ import annotations

import json
import sys

import pytorch_lightning as pl
import torch
from torch import Tensor, nn

import matforge
from matforge.batch import AtomsBatch
from matforge.interfaces import Backbone, OutputSpec


class ScriptNet(Backbone):
    """Per-atom features from species and the distance to the structure's centroid."""

    representation = "atoms"

    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(119, hidden)
        self.radial = nn.Linear(1, hidden)
        self.hidden = hidden

    @property
    def output(self) -> OutputSpec:
        return OutputSpec("embedding", self.hidden)

    def forward(self, batch: AtomsBatch) -> Tensor:
        counts = batch.num_atoms.to(batch.positions.dtype).unsqueeze(-1)
        centroid = torch.zeros_like(counts.expand(-1, 3)).index_add(0, batch.batch, batch.positions) / counts
        r = (batch.positions - centroid[batch.batch]).norm(dim=-1, keepdim=True)
        return self.embed(batch.atomic_numbers) * torch.tanh(self.radial(r))


# at import, so that spawned DDP workers (which import this script) know the name too
matforge.registry.register("model", "script-net", ScriptNet, summary="defined in a script")

if __name__ == "__main__":
    from matforge.data import AtomicDataModule
    from matforge.tasks import PropertyTask, load_task

    data, out = sys.argv[1], sys.argv[2]
    pl.seed_everything(0)
    task = PropertyTask("script-net", {"hidden": 8}, properties=["gap"], lr=1e-2)
    module = AtomicDataModule(train=f"{data}/train", val={"val": f"{data}/val"}, batch_size=4, targets=["gap"])
    trainer = pl.Trainer(
        accelerator="cpu", devices=2, strategy="ddp_spawn", max_epochs=1, default_root_dir=out,
        enable_progress_bar=False, enable_model_summary=False, logger=False,
    )  # fmt: skip
    trainer.fit(task, datamodule=module)
    path = trainer.checkpoint_callback.best_model_path
    reloaded = load_task(path)
    structures = [s for s in matforge.data.open_dataset(f"{data}/val")][:5]
    ours = task.predict(structures)["gap"]
    theirs = reloaded.predict(structures)["gap"]
    print(json.dumps({"checkpoint": path, "max_diff": float(abs(ours - theirs).max()),
                      "backbone": type(reloaded.backbone).__name__}))  # fmt: skip
