"""One module per CLI command: each takes parsed options and returns an exit code.

``gpubench/cli.py`` declares the options and calls these; the flows are in docs/design.md.
"""
