"""The results of a sweep, torch-free: run model, cost model, crossovers, load/save, and the
pandas view (docs/design.md). Importing this package imports neither torch nor pandas."""

from gpubench.results.cost_terms import CostModel
from gpubench.results.data_source import DataSource
from gpubench.results.io import load_results, save_results
from gpubench.results.model import SCHEMA, CellKey, CellResult, RunResults
from gpubench.results.sweep_options import SweepOptions

__all__ = [
    "SCHEMA", "CellKey", "CellResult", "CostModel", "DataSource", "RunResults", "SweepOptions",
    "load_results", "save_results",
]  # fmt: skip
