"""Check every metric against an independent reference; print a Markdown table.

    .venv/bin/python scripts/conformance.py                    # table to stdout
    .venv/bin/python scripts/conformance.py --out conformance.md
    .venv/bin/python scripts/conformance.py --json              # JSON to stdout instead

The checks, their references and inputs live in :mod:`evaluations.conformance`. Exit status 1 when
any difference exceeds its tolerance, so the script can gate a release.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a plain script from anywhere
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="also write the output (Markdown, or JSON with --json) here")
    parser.add_argument("--json", action="store_true", help="JSON instead of a Markdown table")
    parser.add_argument("--seed", type=int, default=0, help="seed of the shared inputs (default 0)")
    args = parser.parse_args(argv)

    from evaluations.conformance import markdown_table, run_checks, to_json

    checks = run_checks(args.seed)
    text = to_json(checks) + "\n" if args.json else markdown_table(checks)
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    failed = [c for c in checks if not c.passed]
    if failed:
        names = ", ".join(f"{c.metric} ({c.inputs})" for c in failed)
        print(f"{len(failed)} of {len(checks)} checks FAILED: {names}", file=sys.stderr)
        return 1
    print(f"all {len(checks)} checks passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
