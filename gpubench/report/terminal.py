"""The report document on a terminal, with rich: what a run shows when it ends.

The same document as report.md, laid out for a reader at a prompt: tables that wrap to fit a
narrow terminal, warnings in colour, and the blocks marked for markdown only left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gpubench.report.document import (
    Block,
    Bullets,
    Code,
    Document,
    Image,
    Paragraph,
    Table,
    Tone,
)

if TYPE_CHECKING:
    from rich.console import Console

TONE_STYLES = {
    Tone.PLAIN: "",
    Tone.STRONG: "bold yellow",
    Tone.QUIET: "dim",
    Tone.WARNING: "yellow",
    Tone.ERROR: "red",
}


def print_terminal(document: Document, console: Console) -> None:
    """Title, then each section's blocks; headings only where they help find one's way."""
    from rich.markup import escape

    console.print(f"[bold]{escape(document.title)}[/]")
    for index, section in enumerate(document.sections):
        blocks = section.shown(on_terminal=True)
        if not section.show.on_terminal() or not blocks:
            continue
        if index:
            console.print()
        if section.heading and section.heading_show.on_terminal():
            style = TONE_STYLES[section.tone] or "bold"
            console.print(f"[bold {style}]{escape(_plain(section.heading))}[/]")
        for block in blocks:
            _print_block(console, block, heading=section.heading)


def rich_table(table: Table, *, with_title: bool = True) -> Any:
    """A rich table that wraps to fit a narrow terminal, its row labels kept readable."""
    from rich.table import Table as RichTable

    rich = RichTable(
        title=table.title if with_title else None,
        title_justify="left",
        caption=table.caption or None,
        caption_justify="left",
    )
    shown = table.terminal_columns or tuple(range(len(table.headers)))
    for index in shown:
        header = table.headers[index]
        if index == 0:
            rich.add_column(table.row_label or header, justify="left", min_width=12)
        else:
            rich.add_column(header.replace("speedup ", "speedup\n"), justify="right")
    for row in table.rows:
        values = [row[index] for index in shown]
        rich.add_row(values[0].replace("**", ""), *(_wrapped(value) for value in values[1:]))
    return rich


def _print_block(console: Console, block: Block, *, heading: str) -> None:
    from rich.markup import escape

    if isinstance(block, Paragraph):
        console.print(escape(_plain(block.text)), style=TONE_STYLES[block.tone] or None)
    elif isinstance(block, Bullets):
        for item in block.items:
            console.print(f"• {escape(_plain(item))}")
    elif isinstance(block, Code):
        console.print(escape(block.text), style=TONE_STYLES[block.tone] or None, highlight=False)
    elif isinstance(block, Table):
        console.print()
        console.print(rich_table(block, with_title=block.title != heading))
    elif isinstance(block, Image):
        pass  # a terminal cannot show it; report.md links it


def _plain(text: str) -> str:
    """Markdown's inline code marks (`...`) are noise on a terminal."""
    return text.replace("`", "")


def _wrapped(value: str) -> str:
    """ "~1.1 min (±5 %)" on two lines, so that it fits a narrow terminal."""
    return value.replace(" (", "\n(")
