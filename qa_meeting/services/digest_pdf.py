"""The digest as a PDF (A4, fpdf2): the same sections, text and key frames as the HTML.

DejaVu Sans (Unicode) when the system has it, else the PDF core font with the text made
Latin-1 safe. Every text written is kept and checked once more for the digest's forbidden
names and codes before the bytes are returned.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from qa_meeting.domain.digest import Digest, DigestCase, Figures, KeyFrame, check_no_leaks
from qa_meeting.services.digest_html import DIFFERS_NOTE, paragraphs

# fpdf2 subsets fonts with fontTools, which logs every glyph name at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FAMILY = "DejaVu"
CORE_FAMILY = "Helvetica"
FRAME_WIDTH_MM = 120.0
BLUE, GREEN, GREY, DARK = (29, 78, 137), (47, 125, 50), (82, 96, 109), (31, 41, 51)
DIFFERS = (253, 236, 234)
ROW_MM = 6.5  # a table row's height, roughly, to keep a short table on one page
_LATIN1 = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'"} | {
    "\u201c": '"', "\u201d": '"', "\u00d7": "x", "\u2026": "...", "\u2022": "-"})  # fmt: skip


class _Writer:
    """An FPDF document that remembers every text it was given."""

    def __init__(self, title: str) -> None:
        self.pdf = FPDF(orientation="portrait", unit="mm", format="A4")
        self.pdf.set_margins(15, 15, 15)
        self.pdf.set_auto_page_break(auto=True, margin=15)
        self.pdf.set_title(title)
        self.pdf.set_creator("QA Meeting")
        self.unicode = all((FONT_DIR / name).is_file() for name in FONT_FILES.values())
        if self.unicode:
            for style, name in FONT_FILES.items():
                self.pdf.add_font(FAMILY, style, str(FONT_DIR / name))
        self.family = FAMILY if self.unicode else CORE_FAMILY
        self.written: list[str] = [title]
        self.pdf.add_page()

    def safe(self, text: str) -> str:
        self.written.append(text)
        if self.unicode:
            return text
        return text.translate(_LATIN1).encode("latin-1", "replace").decode("latin-1")

    def text(
        self,
        text: str,
        *,
        size: float = 10,
        bold: bool = False,
        colour: tuple[int, int, int] = DARK,
        height: float = 5,
        after: float = 1,
    ) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)
        self.pdf.set_text_color(*colour)
        self.pdf.multi_cell(
            0, height, self.safe(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
        self.pdf.ln(after)

    def heading(self, text: str, colour: tuple[int, int, int] = BLUE, size: float = 13) -> None:
        if self.pdf.get_y() > self.pdf.page_break_trigger - 30:
            self.pdf.add_page()
        self.pdf.ln(2)
        self.text(text, size=size, bold=True, colour=colour, height=7)

    def image(self, frame: KeyFrame) -> None:
        if not frame.shown:
            self.text(f"{frame.caption}. {frame.note}", size=8, colour=GREY)
            return
        width = min(FRAME_WIDTH_MM, self.pdf.epw)
        height = width * frame.height / max(frame.width, 1)
        if self.pdf.get_y() + height + 8 > self.pdf.page_break_trigger:
            self.pdf.add_page()
        self.pdf.image(io.BytesIO(frame.jpeg), w=width, h=height, alt_text=self.safe(frame.caption))
        self.pdf.ln(1)
        self.text(frame.caption, size=8, colour=GREY)

    def room_for(self, needed_mm: float) -> None:
        """Start a new page unless ``needed_mm`` fit on this one (or would not fit on any)."""
        fresh_page = self.pdf.page_break_trigger - self.pdf.t_margin
        if self.pdf.get_y() + needed_mm > self.pdf.page_break_trigger and needed_mm < fresh_page:
            self.pdf.add_page()

    def table(self, header: tuple[str, str, str], rows: list[tuple[str, str, str, bool]]) -> None:
        """Questions and answers; a row whose answers differ is shaded, as in the HTML."""
        self.pdf.set_font(self.family, "", 9)
        self.pdf.set_text_color(*DARK)
        shaded = FontFace(fill_color=DIFFERS)
        with self.pdf.table(
            col_widths=(100, 40, 40), text_align="LEFT", line_height=4.5, padding=1
        ) as table:
            table.row([self.safe(cell) for cell in header])
            for question, trainee, expert, differs in rows:
                cells = [self.safe(question), self.safe(trainee), self.safe(expert)]
                table.row(cells, style=shaded if differs else None)
        self.pdf.ln(1)


def render_pdf(digest: Digest) -> bytes:
    """The digest as PDF bytes; ``DigestLeakError`` when it would show a forbidden term."""
    out = _Writer(digest.title)
    out.text(digest.title, size=17, bold=True, colour=BLUE, height=8)
    out.text(digest.subtitle, size=10, colour=GREY, after=3)
    if digest.redactions:
        out.text(
            f"{digest.redactions} passage(s) of free text looked like a name, number or date and "
            "were replaced by [removed]. The chair can correct the source text and build the "
            "digest again.",
            size=9,
            colour=(122, 74, 0),
            after=2,
        )
    if digest.figures is not None:
        _figures(out, digest.figures)
    if not digest.cases:
        out.text(digest.empty_note, size=11, after=3)
    if digest.good_spots:
        out.heading("Good spots", GREEN)
        for case in digest.good_spots:
            out.text(f"{case.title} ({case.operator}): {case.classification}", bold=True)
            for point in case.good_points:
                out.text(point.text)
    for case in digest.cases:
        _case(out, case)
    out.pdf.ln(4)
    generated = f"{digest.generated_on.day} {digest.generated_on:%B %Y}"
    out.text(
        "De-identified: patients appear only by sex and age band, operators only by the "
        "meeting's pseudonyms; free text was checked for names, numbers and dates. Blame-free "
        "learning material: please do not forward it outside the department. Generated by QA "
        f"Meeting on {generated}.",
        size=8,
        colour=GREY,
    )
    check_no_leaks("\n".join(out.written), digest.forbidden, "PDF digest")
    return bytes(out.pdf.output())


def _figures(out: _Writer, figures: Figures) -> None:
    out.heading("The meeting in figures")
    roles = ", ".join(f"{n} {role.lower()}" for role, n in figures.attendance)
    mix = "; ".join(f"{name}: {n}" for name, n in figures.discordance) or "none"
    lines = (
        f"Cases: {figures.presented} presented, {figures.deferred} deferred to a later meeting",
        f"Attendance: {figures.attended}" + (f" ({roles})" if roles else ""),
        f"Discordance mix: {mix}",
        f"Variety: {figures.protocols} protocol(s), {figures.cells} protocol x finding "
        "combination(s)",
    )
    for line in lines:
        out.text(line)


def _case(out: _Writer, case: DigestCase) -> None:
    out.heading(case.title)
    meta = [case.classification, case.operator, case.patient]
    meta += ["Good spot"] if case.good_spot else []
    out.text(" | ".join(meta), size=9, bold=True, colour=GREY)
    if case.meeting:
        out.text(case.meeting, size=9, colour=GREY)
    out.text("Clinical question", size=11, bold=True)
    out.text(case.question, after=2)
    for frame in case.frames:
        out.image(frame)
    if case.answers:
        out.room_for(ROW_MM * (len(case.answers) + 1) + 8)  # the heading stays with its table
        out.text("The expert's answers", size=11, bold=True)
        rows = [(r.question, r.trainee or "-", r.expert or "-", r.differs) for r in case.answers]
        out.table(("Question", case.operator, "Expert"), rows)
        if any(r.differs for r in case.answers):
            out.text(DIFFERS_NOTE, size=8, colour=GREY)
    if case.reasoning:
        out.text("The expert's reasoning", size=11, bold=True)
        for paragraph in paragraphs(case.reasoning):
            out.text(paragraph, after=2)
    if case.points:
        out.text("Teaching points", size=11, bold=True)
        for point in case.points:
            out.room_for(14)  # a short point stays with its category line
            out.text(f"\u2022 {point.text}", after=0)
            tags = f" | {', '.join(point.tags)}" if point.tags else ""
            out.text(f"{point.category}{tags}", size=8, colour=GREY)
    stage = [f"Where the error happened: {case.error_stage}"] if case.error_stage else []
    stage += [f"Remedial action: {case.remedial_action}"] if case.remedial_action else []
    if stage:
        out.text(" | ".join(stage), size=9, colour=GREY)
