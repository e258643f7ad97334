#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Turns one of docs/*.md (the manual pages, kept readable on the web) into
scdoc(5) input, which scdoc turns into a man page. The Markdown is a small
subset, and anything outside it is an error rather than a surprise:

  # name(section)               the first line: the page's name and section
  ## Heading / ### Heading      a section (upper-cased) / a subsection
  paragraphs, **bold**, `code` (both bold in the page), [text](link) → text (link)
  - bullets (continuation lines indented)
  ``` fenced blocks ```         literal
  | a | b | tables               one entry per row: a, then b indented
  TERM / : definition            a term line, then ": text" (continued indented)

Usage: md2scd.py INPUT.md OUTPUT.scd
"""

import re
import sys


class Error(Exception):
    pass


def escape(text):
    """scdoc reads * and _ as formatting and \\ as an escape."""
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("_", "\\_")


def inline(text):
    out, pos = [], 0
    pattern = re.compile(r"`([^`]+)`|\*\*([^*]+)\*\*|\[([^\]]+)\]\(([^)]+)\)")
    for m in pattern.finditer(text):
        out.append(escape(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append("*" + escape(m.group(1)) + "*")
        elif m.group(2) is not None:
            out.append("*" + inline_plain(m.group(2)) + "*")
        else:
            out.append(inline(m.group(3)) + " (" + escape(m.group(4)) + ")")
        pos = m.end()
    out.append(escape(text[pos:]))
    return "".join(out)


def inline_plain(text):
    """Inside bold: code spans lose their backticks (no nesting in scdoc)."""
    return escape(text.replace("`", ""))


def convert(md):
    lines = md.splitlines()
    if not lines or not re.match(r"^# [a-zA-Z0-9._-]+\([1-8]\)$", lines[0]):
        raise Error("the first line must be '# name(section)'")
    out = [lines[0][2:], ""]
    i = 1
    paragraph = []

    def flush():
        if paragraph:
            out.append(inline(" ".join(paragraph)))
            out.append("")
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            flush()
            out.append("```")
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(lines[i].replace("\\", "\\\\"))   # scdoc unescapes even here
                i += 1
            if i == len(lines):
                raise Error("a code block is not closed")
            out.append("```")
            out.append("")
            i += 1
        elif line.startswith("### "):
            flush()
            out.append("## " + inline_plain(line[4:]))
            out.append("")
            i += 1
        elif line.startswith("## "):
            flush()
            out.append("# " + escape(line[3:].upper()))
            out.append("")
            i += 1
        elif line.startswith("# "):
            raise Error(f"line {i + 1}: only the first line may be a '# ' title")
        elif line.startswith("| "):
            flush()
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
                if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                    rows.append(cells)
                i += 1
            for cells in rows[1:]:          # the first row is the header
                out.append(inline(cells[0]))
                for c in cells[1:]:
                    out.append("\t" + inline(c))
                out.append("")
        elif line.startswith("- "):
            flush()
            while i < len(lines) and lines[i].startswith("- "):
                item = [lines[i][2:].strip()]
                i += 1
                while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                    item.append(lines[i].strip())
                    i += 1
                out.append("- " + inline(" ".join(item)))
            out.append("")
        elif line.startswith(": "):
            # A definition: the term is the paragraph just read.
            if not paragraph:
                raise Error(f"line {i + 1}: a definition without a term")
            term = " ".join(paragraph)
            paragraph.clear()
            body = [line[2:].strip()]
            i += 1
            while i < len(lines) and lines[i].startswith("  ") and lines[i].strip():
                body.append(lines[i].strip())
                i += 1
            out.append(inline(term))
            out.append("\t" + inline(" ".join(body)))
            out.append("")
        elif not line.strip():
            flush()
            i += 1
        else:
            paragraph.append(line.strip())
            i += 1
    flush()
    return "\n".join(out).rstrip("\n") + "\n"


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: md2scd.py INPUT.md OUTPUT.scd")
    with open(sys.argv[1]) as f:
        md = f.read()
    try:
        scd = convert(md)
    except Error as e:
        sys.exit(f"{sys.argv[1]}: {e}")
    with open(sys.argv[2], "w") as f:
        f.write(scd)


if __name__ == "__main__":
    main()
