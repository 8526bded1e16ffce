"""The digest as one self-contained HTML file an e-mail client can show.

Inline CSS, a table layout about 680 px wide, the key frames embedded as JPEG data URIs; no
script, no external resource. Jinja2 escapes every value (autoescape on). The finished page's
text is checked once more for the digest's forbidden names and codes.
"""

from __future__ import annotations

import base64
import html
import re
from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from qa_meeting.domain.digest import Digest, check_no_leaks

TEMPLATE = "digest.html.j2"
DIFFERS_NOTE = "Shaded rows: the answers differ."
_TAG = re.compile(r"<[^>]+>")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("qa_meeting", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    environment.filters["paragraphs"] = paragraphs
    return environment


def paragraphs(text: str) -> list[str]:
    """The text's paragraphs (split on blank lines), each on one line."""
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def visible_text(page: str) -> str:
    """What a reader sees of ``page`` (tags removed, entities decoded), then its markup (the
    attributes too), without the embedded images."""
    without_images = re.sub(r'src="data:[^"]*"', "", page)
    return html.unescape(_TAG.sub(" ", without_images)) + "\n" + html.unescape(without_images)


def render_html(digest: Digest) -> str:
    """The digest as an HTML page; ``DigestLeakError`` when it would show a forbidden term."""
    generated = f"{digest.generated_on.day} {digest.generated_on:%B %Y}"
    template = _environment().get_template(TEMPLATE)
    page = template.render(digest=digest, differs_note=DIFFERS_NOTE, generated=generated)
    check_no_leaks(visible_text(page), digest.forbidden, "HTML digest")
    return page
