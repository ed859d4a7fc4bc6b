"""Runner of the interaction scripts (etcd ``interaction_test.go`` + datadriven).

A script is blocks of ``command`` / ``----`` / expected output, separated by blank lines;
``#`` lines are comments.  ``python -m tests.replication.interaction --rewrite [FILE...]``
rewrites the expected outputs from what the code prints now (then review the diff).
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from tests.replication.interaction_env import InteractionEnv

TESTDATA = pathlib.Path(__file__).parent / "testdata"


def run_file(path: pathlib.Path, *, rewrite: bool = False) -> list[str]:
    """Run a script; return the mismatches (or rewrite the file and return none)."""
    env, out, problems = InteractionEnv(), [], []
    blocks = path.read_text().strip("\n").split("\n\n")
    for block in blocks:
        lines = block.split("\n")
        comments = [x for x in lines if x.startswith("#")]
        body = [x for x in lines if not x.startswith("#")]
        if not body:
            out.append("\n".join(comments))
            continue
        command, expected = body[0], "\n".join(body[2:])
        assert body[1:2] == ["----"], f"{path.name}: no ---- after {command!r}"
        got = env.run(command)
        if got != expected:
            problems.append(f"{path.name}: {command}\n--- expected\n{expected}\n--- got\n{got}")
        out.append("\n".join([*comments, command, "----", got]))
    if rewrite:
        path.write_text("\n\n".join(out) + "\n")
        return []
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.replication.interaction")
    parser.add_argument("--rewrite", action="store_true", help="write actual outputs back")
    parser.add_argument("files", nargs="*", type=pathlib.Path)
    args = parser.parse_args(argv)
    problems = []
    for path in args.files or sorted(TESTDATA.glob("*.txt")):
        problems += run_file(path, rewrite=args.rewrite)
    print("\n\n".join(problems) or "all scripts pass")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
