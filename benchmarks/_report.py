"""What every benchmark script shares: recording a figure beside its peer for the bench report.

``record(...)`` prints the figure and, when ``MATFORGE_BENCH_FIGURES`` names a file (as
``benchmarks/report.py`` sets it), appends it there as one JSON line. A ratio is recorded only
against a peer measured in the same run; a peer quoted from elsewhere goes in ``context``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

FIGURES_ENV = "MATFORGE_BENCH_FIGURES"


def record(
    name: str,
    value: float,
    unit: str,
    *,
    peer: str | None = None,
    peer_value: float | None = None,
    higher_is_better: bool = True,
    spread: float | None = None,
    context: str | None = None,
) -> dict[str, Any]:
    """One figure: ``value`` (``unit``) and, when measured in the same run, ``peer_value``.

    The ratio is ours/peer for higher-is-better figures (throughput) and peer/ours for
    lower-is-better ones (times, memory), so > 1 always means matforge is ahead.
    """
    ratio = None
    if peer_value is not None and value > 0 and peer_value > 0:
        ratio = value / peer_value if higher_is_better else peer_value / value
    figure = {
        "benchmark": Path(sys.argv[0]).stem,
        "name": name,
        "value": value,
        "unit": unit,
        "spread": spread,
        "peer": peer,
        "peer_value": peer_value,
        "ratio": ratio,
        "higher_is_better": higher_is_better,
        "context": context,
    }
    path = os.environ.get(FIGURES_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(figure) + "\n")
    return figure
