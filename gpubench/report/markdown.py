"""The report document as markdown (report.md and ``gpubench report --format markdown``)."""

from __future__ import annotations

from gpubench.report.document import (
    Block,
    Bullets,
    Code,
    Document,
    Image,
    Paragraph,
    Section,
    Table,
    Tone,
)


def print_markdown(document: Document) -> str:
    """The document top-down: "# title", then each section's heading and blocks."""
    parts = [f"# {document.title}"]
    for section in document.sections:
        if section.show.in_markdown():
            parts += _section(section)
    return "\n".join(parts) + "\n"


def markdown_table(table: Table) -> str:
    def line(values: tuple[str, ...]) -> str:
        return "| " + " | ".join(value.replace("|", "\\|") for value in values) + " |"

    lines = [line(table.headers), line(("---",) * len(table.headers))]
    lines += [line(row) for row in table.rows]
    if table.caption:
        lines += ["", table.caption]
    return "\n".join(lines)


def _section(section: Section) -> list[str]:
    parts = []
    if section.heading and section.heading_show.in_markdown():
        parts += ["", f"{'#' * section.level} {section.heading}"]
    for block in section.shown(on_terminal=False):
        parts += ["", _block(block)]
    return parts


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        strong = block.tone in (Tone.STRONG, Tone.WARNING, Tone.ERROR)
        return f"**{block.text}**" if strong else block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Code):
        return f"```\n{block.text}\n```"
    if isinstance(block, Image):
        return f"![{block.alt}]({block.path})"
    return markdown_table(block)
