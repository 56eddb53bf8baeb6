"""What a newcomer reads: no Lightning adverts, no tensorboardX notice, a seeded README block."""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path

import matforge.tasks  # noqa: F401  (importing the tasks installs the filters)

README = Path(__file__).resolve().parents[2] / "README.md"


def test_lightning_product_tips_are_dropped_and_other_messages_kept(caplog):
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    with caplog.at_level(logging.INFO, logger=logger.name):
        logger.info("💡 Tip: For seamless cloud uploads and versioning, try installing [litmodels](https://x)")
        logger.info("💡 Tip: try litlogger for experiment tracking")
        logger.info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]


def test_the_tensorboardx_notice_is_silenced():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        import matforge.training.defaults as defaults

        defaults.hide_lightning_adverts()  # re-applied inside catch_warnings' fresh filter list
        warnings.warn("Starting from v1.9.0, `tensorboardX` has been removed as a dependency", UserWarning, stacklevel=1)
        warnings.warn("something about the run", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something about the run"]


def test_the_readme_python_blocks_seed_before_they_train():
    for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.S):
        if "Trainer(" in block:
            assert "seed_everything(" in block and block.index("seed_everything(") < block.index("Trainer(")
