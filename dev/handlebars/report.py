"""Print the Handlebars conformance table: every case of ``tests/prompts/handlebars_corpus.json``
run through the public renderer, counted per source as pass, documented difference or fail.

Usage: ``python -m dev.handlebars.report [--fails]`` (``--fails`` also lists each failing case).
"""

from __future__ import annotations

import argparse
import logging

from tests.prompts.conformance import FAIL, case_id, classify, load_cases, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fails", action="store_true", help="list the failing cases")
    args = parser.parse_args()
    logging.getLogger("airflow_provider_huggingface.prompts.renderer").setLevel(logging.WARNING)  # {{log}}
    cases = load_cases()
    print(table(cases))
    if args.fails:
        for case in cases:
            outcome, _, ours = classify(case)
            if outcome == FAIL:
                print(f"\n{case_id(case)}\n  template: {case['template']!r}\n  input:    {case['input']!r}")
                print(f"  handlebars: {case['expected']!r} error={case['error']!r}\n  ours:       {ours!r}")


if __name__ == "__main__":
    main()
