"""Text that reaches the permanent record: refused when it could deceive whoever reads it.

A name with an ANSI escape can rewrite an administrator's terminal; a right-to-left
override can make `gpj.exe` read as `exe.jpg`; a NUL truncates it in C tools. An
event is forever, so such text is refused before it is recorded (a 422 naming
the field), and lengths are bounded.
"""

from __future__ import annotations

import unicodedata

from domain.errors import InvalidInput

# Bidirectional controls: embeddings, overrides, isolates and marks.
BIDI_CONTROLS = frozenset(
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
)


def unsafe_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of `text` that may not be recorded, if any."""
    for character in text:
        if multiline and character in "\n\t":
            continue
        category = unicodedata.category(character)
        if category in ("Cc", "Cs", "Co") or character in BIDI_CONTROLS:
            return character
        if category == "Cn" and not character.isprintable():
            return character  # unassigned code points: nothing a reader could see
    return None


def checked(
    field: str,
    value: str,
    *,
    max_length: int,
    required: bool = True,
    multiline: bool = False,
) -> str:
    """`value` stripped, if it is safe to record; otherwise InvalidInput naming `field`."""
    text = value.strip()
    if required and not text:
        raise InvalidInput(field, "must not be empty")
    if len(text) > max_length:
        raise InvalidInput(field, f"at most {max_length} characters, got {len(text)}")
    bad = unsafe_character(text, multiline=multiline)
    if bad is not None:
        raise InvalidInput(
            field, f"control and bidirectional-override characters are refused (U+{ord(bad):04X})"
        )
    return text


# The lengths the API documents for each kind of text.
EMAIL_LENGTH = 320
NAME_LENGTH = 200
TEAM_NAME_LENGTH = 100
PROFILE_NAME_LENGTH = 100
NOTE_LENGTH = 2000
