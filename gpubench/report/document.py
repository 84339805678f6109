"""The report as data: a title, then sections of paragraphs, bullet lists, tables and code.

``sections.build_document`` fills it once from a run; the printers (``markdown``,
``terminal``, ``export``) only lay it out, so report.md, the terminal and the JSON can never
disagree on a number. Every block says who shows it (``show``): both printers, or one, for
what only makes sense there (an image link in markdown, a compact note on the terminal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


class Show(str, Enum):
    """Which printers show a block or a heading."""

    EVERYWHERE = "everywhere"
    MARKDOWN = "markdown"  # report.md and --format markdown only
    TERMINAL = "terminal"  # the tables at the end of a run and --format table only

    def on_terminal(self) -> bool:
        return self is not Show.MARKDOWN

    def in_markdown(self) -> bool:
        return self is not Show.TERMINAL


class Tone(str, Enum):
    """How much a block or heading stands out (bold in markdown; colour on a terminal)."""

    PLAIN = "plain"
    STRONG = "strong"  # what the reader must act on (an interrupted run)
    QUIET = "quiet"  # context a reader can skip (the legend, the command line)
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Paragraph:
    text: str  # may hold `inline code`; the terminal drops the backticks
    tone: Tone = Tone.PLAIN
    show: Show = Show.EVERYWHERE


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]
    show: Show = Show.EVERYWHERE


@dataclass(frozen=True)
class Code:
    """Preformatted text: a command line, a text chart."""

    text: str
    tone: Tone = Tone.PLAIN
    show: Show = Show.EVERYWHERE


@dataclass(frozen=True)
class Image:
    path: str  # relative to the report file
    alt: str
    show: Show = Show.MARKDOWN


@dataclass(frozen=True)
class Table:
    """One table as text cells: the same strings for every printer."""

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...] = ()
    caption: str = ""
    row_label: str = ""  # the first column's header under a terminal title ("iterations")
    terminal_columns: tuple[int, ...] | None = None  # columns a terminal shows (None: all)
    show: Show = Show.EVERYWHERE


Block = Paragraph | Bullets | Code | Image | Table


@dataclass(frozen=True)
class Section:
    """A part of the report under one heading ("" for the part under the title)."""

    key: str  # stable name for JSON readers: "summary", "time-to-train", ...
    heading: str
    blocks: tuple[Block, ...]
    level: int = 2  # markdown heading level
    tone: Tone = Tone.PLAIN
    show: Show = Show.EVERYWHERE  # the whole section
    heading_show: Show = Show.EVERYWHERE  # its heading alone

    def shown(self, on_terminal: bool) -> tuple[Block, ...]:
        """The blocks one printer shows."""
        return tuple(
            block
            for block in self.blocks
            if (block.show.on_terminal() if on_terminal else block.show.in_markdown())
        )


@dataclass(frozen=True)
class Document:
    title: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    def section(self, key: str) -> Section | None:
        return next((section for section in self.sections if section.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: every block with its kind ("paragraph", "table", ...)."""
        return {
            "title": self.title,
            "sections": [
                {
                    "key": section.key,
                    "heading": section.heading,
                    "blocks": [_block_dict(block) for block in section.blocks],
                }
                for section in self.sections
            ],
        }


def _block_dict(block: Block) -> dict[str, Any]:
    data = asdict(block)
    for name, value in data.items():
        if isinstance(value, Enum):
            data[name] = value.value
    return {"kind": type(block).__name__.lower(), **data}
