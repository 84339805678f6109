"""The run as data for other tools: cells.csv (the tidy frame) and JSON (results + document).

cells.csv is ``RunResults.frame()`` as it is, so a notebook's ``gpubench.load_run(...).frame()``
and the file agree. The JSON is results.json with the summary sentences and the report
document (sections, tables as text) beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from gpubench.report.document import Bullets, Document
from gpubench.results.frame import FRAME_COLUMNS
from gpubench.results.model import RunResults

if TYPE_CHECKING:
    import pandas

CSV_COLUMNS = FRAME_COLUMNS


def cells_frame(results: RunResults) -> pandas.DataFrame:
    """One tidy row per cell × iteration count × protocol; unmeasured cells have NaN times."""
    return results.frame()


def write_csv(results: RunResults, path: Path) -> Path:
    cells_frame(results).to_csv(path, index=False)
    return path


def print_json(results: RunResults, document: Document) -> str:
    """results.json's content, the summary sentences filled in, and the report document."""
    data = results.to_dict()
    data["summary"] = summary_of(document)
    data["report"] = document.to_dict()
    return json.dumps(data, indent=2)


def summary_of(document: Document) -> list[str]:
    """The summary sentences: the bullets under the title."""
    section = document.section("summary")
    bullets = [block for block in section.blocks if isinstance(block, Bullets)] if section else []
    return list(bullets[0].items) if bullets else []
