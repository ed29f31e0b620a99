"""Reading the releases' .xlsx annotation sheets.

Columns are found by their header text, not by position, because the sheets
have blank columns, and the header row is searched for because SAMM puts a
13-row preamble above it.
"""
import glob
import os

import openpyxl

from atnet.common import InputError

#: How far down the header row is searched for (SAMM's is row 14).
HEADER_SEARCH_ROWS = 40


def normalise_header(text):
    """``'Onset Frame'`` and ``'OnsetFrame'`` -> ``'onsetframe'``."""
    return "".join(str(text).lower().split()) if text is not None else ""


def read_table(path, preferred_sheet, required):
    """The data rows of a sheet as ``(sheet name, [(excel row, {column: value})])``.

    ``required`` maps a normalised header to the name used in the returned
    dicts. The header row is the first row holding all required headers;
    rows below it that are entirely blank are dropped.
    """
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises many types for a bad file
        raise InputError("%s: cannot read the annotation sheet (%s)" % (path, err))
    try:
        name = preferred_sheet if preferred_sheet in workbook.sheetnames else workbook.sheetnames[0]
        rows = list(workbook[name].iter_rows(values_only=True))
    finally:
        workbook.close()
    header_row, columns = _find_header(path, name, rows, required)
    table = []
    for number, values in enumerate(rows[header_row + 1:], start=header_row + 2):
        if all(_blank(v) for v in values):
            continue
        table.append((number, {required[h]: values[i] if i < len(values) else None
                               for h, i in columns.items()}))
    return name, table


def _find_header(path, sheet, rows, required):
    """Index of the header row and the column position of each required header."""
    for index, values in enumerate(rows[:HEADER_SEARCH_ROWS]):
        positions = {}
        for column, value in enumerate(values):
            positions.setdefault(normalise_header(value), column)
        if all(header in positions for header in required):
            return index, {header: positions[header] for header in required}
    raise InputError("%s: sheet %r has no header row with the columns %s in its first %d rows"
                     % (path, sheet, ", ".join(sorted(required)), HEADER_SEARCH_ROWS))


def _blank(value):
    return value is None or (isinstance(value, str) and not value.strip())


def cell_text(value):
    """A cell as stripped text ('' for blank); integral floats lose their '.0'."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def frame_cell(value):
    """A frame-number cell as an int, None for blank or '/'; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise ValueError(value)
    text = cell_text(value)
    if text in ("", "/"):
        return None
    if text.isdigit():
        return int(text)
    raise ValueError(value)


def find_one(root, candidates, what):
    """The first existing path among ``root``-relative candidates (InputError if none)."""
    for candidate in candidates:
        path = os.path.join(root, candidate)
        if os.path.exists(path):
            return path
    raise InputError("%s: no %s found (looked for %s)" % (root, what, ", ".join(candidates)))


def find_sheet(root, pattern, what):
    """The annotation sheet matching ``pattern`` in ``root``; if several, the
    last by name (the names carry the version or date)."""
    sheets = sorted(glob.glob(os.path.join(glob.escape(root), pattern)))
    if not sheets:
        raise InputError("%s: no %s (%s)" % (root, what, pattern))
    return sheets[-1]
