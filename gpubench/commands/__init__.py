"""One module per CLI command: each takes parsed options and returns an exit code (docs/design.md)."""
