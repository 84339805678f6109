"""The results of a sweep, torch-free: run model, cost model, crossovers, load/save (docs/design.md)."""
