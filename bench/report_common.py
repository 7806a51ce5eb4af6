"""What every report section of the bench shares: percentiles and medians
that stand a missing value for no value, ratios as table cells, the head
of a Markdown table, and putting a section into the report file.

Map:
  percentile, median   the statistics (NaN when there are no values)
  quotient             a / b as a number, NaN when either is missing
  ratio                a / b as a table cell ("1.23", "-" when b is 0 or infinite)
  num                  a number as a table cell, thousands grouped
  table_head           a table's header row and alignment row
  write_section        a `## ` section into the report, in place of an earlier one

Used by report.py (the load, failover and attach steps), publish_report.py,
thousand_report.py and runtimes_report.py; the steps' own modules take
`percentile` from here too, so a printed p50 and a reported one agree.
"""

import statistics

NAN = float("nan")
INF = float("inf")


def percentile(values, fraction):
    """The value at `fraction` (0..1) of the sorted `values`, nearest rank
    rounded; NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return NAN
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def median(values, key=None):
    """The median of `values` (of `key(value)` each, with `key`); NaN for
    no values."""
    values = [key(value) for value in values] if key else list(values)
    return statistics.median(values) if values else NAN


def quotient(a, b):
    """a / b, or NaN when b is zero or either is NaN: for comparing with a
    target (NaN compares false, so a missing value never meets one)."""
    return a / b if b and b == b and a == a else NAN


def ratio(a, b):
    """a / b as a table cell with two decimals, or "-" when b is zero or
    either is infinite (runtimes_report: a setup that never answered). A
    NaN stays "nan", as the sections printed it before they shared this."""
    if a == INF or b in (0, INF):
        return "-"
    return f"{a / b:.2f}"


def num(value, digits=1):
    """A number as a table cell: "-" for NaN, thousands grouped and no
    decimals from 1,000 up, else `digits` decimals."""
    if value != value:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def table_head(columns, aligns):
    """A Markdown table's first two lines: the `columns`' names, then each
    one's alignment from `aligns`, a letter a column: `l` left (text), `r`
    right (numbers). An empty name leaves its cell blank."""
    if len(columns) != len(aligns) or set(aligns) - {"l", "r"}:
        raise ValueError(f"table_head: {len(columns)} columns {columns!r} but aligns {aligns!r} "
                         "(one letter, l or r, a column)")
    names = "|" + "|".join(f" {name} " if name else " " for name in columns) + "|"
    rule = "|" + "|".join("---" if align == "l" else "---:" for align in aligns) + "|"
    return [names, rule]


def write_section(out, text):
    """Puts the section `text` (its first line is its `## ` heading) into
    the report `out`, in place of an earlier section of that heading (up
    to the next `## `), else after what is there; makes `out` if missing."""
    head = text.split("\n", 1)[0]
    try:
        with open(out) as file:
            old = file.read()
    except OSError:
        old = ""
    if head in old:
        start = old.index(head)
        end = old.find("\n## ", start + len(head))
        old = old[:start] + (old[end + 1:] if end >= 0 else "")
    with open(out, "w") as file:
        file.write(old.rstrip("\n") + ("\n\n" if old.strip() else "") + text)
