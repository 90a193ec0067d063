"""CSV cells that a spreadsheet cannot run: OWASP's CSV-injection rule, shared by the API's and the CLI's exports.

A text cell starting with `=`, `+`, `-` or `@` (or a tab or carriage return, which some spreadsheets skip
before such a character) is read as a formula by Excel, LibreOffice and Google Sheets; a leading single quote
makes them show it as text. Only text cells are escaped: a number such as -0.25 stays a number.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(text: str) -> str:
    """`text` as a CSV cell a spreadsheet shows as text, never evaluates: `=1+1` becomes `'=1+1`."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text
