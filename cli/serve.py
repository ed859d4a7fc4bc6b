"""``logd serve``: run one broker in the foreground (Ctrl-C or SIGTERM stops it cleanly).

    logd serve [--config FILE.toml] [--node-id N] [--data-dir DIR] [--listen HOST:PORT]
               [--peers ID@HOST:PORT,...]

No flags: one node on 127.0.0.1:7070 with its data in ./logd-data. Flags override the file.
The same entry point runs as ``python -m logd.node``.
"""

from __future__ import annotations

import argparse

from cli.app import App

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from logd.node.args import add_arguments as broker_arguments

    broker_arguments(parser)


def run(app: App, args: argparse.Namespace) -> int:
    from logd.node.args import config_from_args
    from logd.node.main import serve

    config = config_from_args(args)  # InvalidConfigError: one line, exit 1 (cli.main)
    return serve(config, log_level=args.log_level, log_format=args.log_format)
