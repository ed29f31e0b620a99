"""Plain-text pieces of the evaluation reports: number formats and Markdown tables."""


def format_value(value, digits=3, signed=False):
    """A metric as the paper prints it (3 decimals); None (not computed) as a dash."""
    if value is None:
        return "–"
    return ("%+.*f" if signed else "%.*f") % (digits, value)


def markdown_table(header, rows):
    """A GitHub-style Markdown table; text columns left-, number columns right-aligned."""
    rows = [[str(cell) for cell in row] for row in rows]
    numeric = [all(_looks_numeric(row[i]) for row in rows) and bool(rows) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if num else ":---" for num in numeric) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _looks_numeric(text):
    text = text.strip("*")
    return text == "–" or text.lstrip("+-").replace(".", "", 1).isdigit()
