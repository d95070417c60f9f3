"""What a name from a config file or a trigger form must look like before it reaches SQL as an
identifier (a schema, table or column): one rule for every warehouse."""

from __future__ import annotations

import re

IDENTIFIER_LENGTH = 63  # PostgreSQL's (NAMEDATALEN - 1), the shortest of the supported warehouses
IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
IDENTIFIER = re.compile(IDENTIFIER_PATTERN.replace("$", r"\Z"))
IDENTIFIER_RULE = "letters, digits and _, not starting with a digit, at most 63 characters"

# What counts as blank in an id (SPEC "Source"): every character of Unicode's White_Space property
# (www.unicode.org/Public/UCD/latest/ucd/PropList.txt): tab to CR, space, NEL, NBSP, the Ogham
# space mark, the en quad to the hair space, the line and paragraph separators, the narrow NBSP,
# the medium mathematical space and the ideographic space. (Python's str.isspace also counts the
# information separators U+001C-U+001F, which are not White_Space.)
WHITESPACE_CODEPOINTS: tuple[int, ...] = (
    0x20, 0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B),
    0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
)  # fmt: skip
WHITESPACE = "".join(map(chr, WHITESPACE_CODEPOINTS))
