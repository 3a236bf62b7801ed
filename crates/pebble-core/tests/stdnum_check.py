#!/usr/bin/env python3
"""Print python-stdnum's verdict on identifiers, for the Rust differential test.

Usage: stdnum_check.py FILE

FILE is UTF-8 with one input per line, "gstin<TAB>value" or "pan<TAB>value"
(values never contain a newline). For each line this prints "valid" or
"invalid" as stdnum.in_.gstin / stdnum.in_.pan decide, in the same order.

Exit status 3 means python-stdnum is not installed, so the caller can skip
rather than fail.
"""

import sys

try:
    from stdnum.in_ import gstin, pan
except ImportError as error:  # pragma: no cover - depends on the machine
    print(f"python-stdnum is not installed ({error}); pip install python-stdnum", file=sys.stderr)
    sys.exit(3)

MODULES = {"gstin": gstin, "pan": pan}


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    # newline="" keeps "\r" and friends inside values instead of treating
    # them as line ends; only "\n" separates inputs.
    with open(sys.argv[1], encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for number, line in enumerate(lines, 1):
        kind, tab, value = line.partition("\t")
        if not tab or kind not in MODULES:
            print(f"line {number}: expected 'gstin' or 'pan', a tab and a value", file=sys.stderr)
            return 2
        out.append("valid" if MODULES[kind].is_valid(value) else "invalid")
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
