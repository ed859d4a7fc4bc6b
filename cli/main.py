"""Entry point of the ``logd`` console script."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print("logd: no commands yet", file=sys.stderr)
    return 2 if args else 0


if __name__ == "__main__":
    sys.exit(main())
