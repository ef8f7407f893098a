"""Generate normalizer test cases from the shared kubectl output corpus.

Usage: python tests/make_normalize_cases.py CORPUS_DIR

Writes one tests/normalize_cases/<corpus id>.yaml per corpus entry that applies to lesson 3's
commands (get pods in every form, apply/create, delete, port-forward, errors, wait), keeping the
entry's id, source and notes. The inputs are copied, so the tests do not need the corpus.
The expected outputs are filled in by `pytest tests/test_normalize.py --update-goldens` and
then reviewed by hand; an existing case file keeps its expected output (re-run with
--update-goldens after a deliberate rule change, and review the diff).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

TOPICS = ("get_pods", "apply", "delete", "delete_unattributed", "port_forward", "errors", "misc")
# From the mixed topics, only what lesson 3 (or its runner) runs: `kubectl wait`, `get pod`.
ONLY = {"misc": {"misc-003", "misc-012"}}
HERE = Path(__file__).resolve().parent / "normalize_cases"


class _Literal(str):
    """A multi-line string written as a YAML block, as a reader expects to review it."""


def _literal(dumper: yaml.SafeDumper, data: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")


yaml.SafeDumper.add_representer(_Literal, _literal)


def _text(value: str) -> str:
    # A block scalar cannot hold trailing spaces faithfully on every line; plain str lets
    # the dumper fall back to a quoted form for those entries.
    value = value.rstrip("\n")
    if "\n" in value and not any(line != line.rstrip() for line in value.split("\n")):
        return _Literal(value)
    return value


def case(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        "source": entry["source"],
        "corpus_id": entry["id"],
        "notes": entry.get("notes", ""),
        "command": entry["command"],
        "input": _text(entry["output"]),
    }


def main(corpus: Path) -> int:
    HERE.mkdir(exist_ok=True)
    written = 0
    for topic in TOPICS:
        for entry in yaml.safe_load((corpus / f"{topic}.yaml").read_text(encoding="utf-8")):
            path = HERE / f"{entry['id']}.yaml"
            if topic in ONLY and entry["id"] not in ONLY[topic] or path.exists():
                continue
            header = "# Generated from the kubectl corpus by tests/make_normalize_cases.py.\n"
            body = yaml.safe_dump(case(entry), allow_unicode=True, sort_keys=False, width=1000)
            path.write_text(header + body, encoding="utf-8")
            written += 1
    print(f"{written} new case files in {HERE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
