"""What a name from a config file or a trigger form must look like before it reaches SQL as an
identifier (a schema, table or column): one rule for every warehouse."""

from __future__ import annotations

import re

IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,62}$"
IDENTIFIER = re.compile(IDENTIFIER_PATTERN.replace("$", r"\Z"))
IDENTIFIER_RULE = "letters, digits and _, not starting with a digit, at most 63 characters"
