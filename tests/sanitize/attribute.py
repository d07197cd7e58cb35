"""Attribute sanitizer and valgrind reports (make test-asan): a report is kelvin's when the first
frame of its stack outside the sanitizer runtime and libc's allocation/string functions lies in
kelvin's sources; otherwise it belongs to the library that frame is in. Prints one line per
report and a summary; exits 1 if any report is kelvin's.

    attribute.py asan LOGDIR      ASan/UBSan/LSan logs (log_path=LOGDIR/...)
    attribute.py valgrind LOGDIR  valgrind logs: definitely-lost leaks and memory errors
"""
import collections
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OURS = tuple(os.path.join(ROOT, d) + "/" for d in
             ("core", "io", "numerics", "solvers", "surrogates", "drivers", "cli", "tests",
              "build-asan", "build-vg"))
RUNTIME = re.compile(r"(libasan|libubsan|liblsan|libc\.so|ld-linux|vgpreload|/sanitizer_common/|"
                     r"\b(malloc|calloc|realloc|free|strdup|strndup|memcpy|memmove|memset|"
                     r"operator new)\b)")


def owner(frames):
    """Who a stack (a list of frame lines, innermost first) belongs to."""
    for f in frames:
        if RUNTIME.search(f):
            continue
        for o in OURS:
            if o in f or re.search(r"(^|[\s(])(" + "|".join(
                    ("core", "io", "numerics", "solvers", "surrogates", "drivers", "cli",
                     "tests")) + r")/[\w/]+\.[ch]:\d+", f):
                return "kelvin"
        m = re.search(r"\((/[^)+]+\.so[.\d]*)", f) or re.search(r"in (\S+\.so[.\d]*)", f) or \
            re.search(r"(lib[\w+-]+\.so)", f)
        return os.path.basename(m.group(1)) if m else "unknown"
    return "unknown"


def asan_reports(text):
    """(kind, frames) of every report in an ASan/UBSan/LSan log."""
    out = []
    for block in re.split(r"\n(?==+\n==\d+==ERROR|Direct leak|Indirect leak|\S+:\d+:\d+: runtime error)",
                          text):
        kind = None
        if "runtime error" in block:
            m = re.search(r"(\S+):(\d+):\d+: runtime error: (.*)", block)
            # UBSan names the source line itself
            if m:
                out.append(("ubsan: " + m.group(3)[:80], [f"({m.group(1)}:{m.group(2)})"] +
                            re.findall(r"#\d+ .*", block)))
            continue
        if re.search(r"ERROR: AddressSanitizer: (\S+)", block):
            kind = "asan: " + re.search(r"ERROR: AddressSanitizer: (\S+)", block).group(1)
        elif block.lstrip().startswith(("Direct leak", "Indirect leak")):
            kind = "leak: " + block.strip().split("\n")[0][:60]
        if kind:
            out.append((kind, re.findall(r"#\d+ .*", block)))
    return out


def valgrind_reports(text):
    out = []
    for block in re.split(r"\n==\d+== \n", text):
        lines = [re.sub(r"^==\d+== ", "", l) for l in block.split("\n")]
        head = next((l for l in lines if l.strip()), "")
        if "definitely lost in loss record" in head or re.match(
                r"(Invalid (read|write|free)|Conditional jump|Use of uninitialised|Mismatched free|"
                r"Source and destination overlap|Syscall param)", head.strip()):
            frames = [l for l in lines if re.match(r"\s+(at|by) 0x", l)]
            out.append((head.strip()[:80], frames))
    return out


def main():
    mode, logdir = sys.argv[1], sys.argv[2]
    counts = collections.Counter()
    ours = []
    leaked = collections.Counter()
    for fn in sorted(os.listdir(logdir)):
        text = open(os.path.join(logdir, fn), errors="replace").read()
        reps = asan_reports(text) if mode == "asan" else valgrind_reports(text)
        for kind, frames in reps:
            who = owner(frames)
            counts[who] += 1
            m = re.search(r"([\d,]+) (?:\(.*?\) )?bytes", kind)
            if m and ("lost" in kind or "leak" in kind):
                leaked[who] += int(m.group(1).replace(",", ""))
            if who == "kelvin":
                ours.append(f"{fn}: {kind}\n    " + "\n    ".join(frames[:8]))
    total = sum(counts.values())
    print(f"# {mode}: {total} report(s): " +
          (", ".join(f"{k} {v}" for k, v in counts.most_common()) or "none"))
    print(f"# bytes leaked: kelvin's code {leaked['kelvin']}, libraries "
          f"{sum(v for k, v in leaked.items() if k != 'kelvin')} (after suppressions)")
    for o in ours:
        print("# kelvin's: " + o)
    print(("ok - " if not ours else "FAIL - ") +
          f"{mode}: no finding in kelvin's code ({counts['kelvin']} of {total} reports)")
    sys.exit(1 if ours else 0)


main()
