"""Re-run notebooks in place from a fresh kernel, as `make execute` does.

Uses nbclient with per-cell timestamps off, so that refreshing outputs only changes
what really changed. Progress-bar widgets (tqdm in Jupyter) are dropped from the
stored outputs: a static page cannot animate them, and drawing them would need
JavaScript from a CDN. Consecutive chunks of the same stream are merged into one
output, so that how the kernel happened to flush does not show up as a diff.
Kernels start in the notebook's own folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbclient
import nbformat

WIDGET = "application/vnd.jupyter.widget-view+json"


def execute(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=None, kernel_name="python3", record_timing=False, resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams([o for o in cell.outputs if WIDGET not in o.get("data", {})])
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


def merge_streams(outputs: list) -> list:
    """Join each run of consecutive stream outputs with the same name into one."""
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            output.get("output_type") == "stream"
            and previous is not None
            and previous.get("output_type") == "stream"
            and previous.get("name") == output.get("name")
        ):
            previous["text"] += output["text"]
        else:
            merged.append(output)
    return merged


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"executing {name}")
        execute(Path(name))
