"""Entry point of the ``logd`` console script: builds the command tree, maps errors to exits.

The tree is a table of command paths -> module: ``("produce",)``, ``("topic", "create")``, or
three levels deep (``("registry", "subject", "list")``); every path but the last word is a
group of :data:`GROUPS` (its help line), declared parent first. A verb module defines
``add_arguments(parser)``
and ``run(app, args) -> int`` and imports anything heavy (grpc, the client) inside ``run``,
so that ``logd --help`` stays fast (pip's lazy ``commands/__init__.py`` is the model).

Global flags (``-b/--brokers``, ``--format``, ``--yes``) are accepted before or after the
subcommand, as rpk's are: every leaf parser repeats them with ``default=SUPPRESS`` so a flag
given late overrides one given early and an absent one changes nothing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from types import ModuleType
from typing import NamedTuple

from cli import status
from cli.app import App, CliError

__all__ = ["COMMANDS", "build_parser", "main"]


class Command(NamedTuple):
    path: tuple[str, ...]  # ("topic", "create") or ("produce",)
    module: str
    help: str
    aliases: tuple[str, ...] = ()


GROUPS: dict[tuple[str, ...], str] = {
    ("topic",): "create, list, describe, delete and configure topics",
    ("group",): "list, describe, seek and delete consumer groups",
    ("cluster",): "the brokers and the health of the cluster",
    ("cluster", "partitions"): "move partitions' replicas between brokers",
    ("cluster", "broker"): "decommission a broker (drain its replicas), recommission or "
    "unregister it",
    ("cluster", "controller"): "the controller quorum: add or remove a voter",
    ("cluster", "config"): "the cluster's dynamic configs: set at runtime, on every broker",
    ("security",): "users, ACLs and client quotas (rpk's `security` shapes)",
    ("security", "user"): "SCRAM users (stored as salted keys)",
    ("security", "acl"): "Kafka ACLs: who may do what to which resource",
    ("security", "quota"): "client quotas: byte rates and request percentage",
    ("registry",): "the schema registry: subjects, schemas and compatibility",
    ("registry", "subject"): "list, describe and delete subjects",
    ("registry", "schema"): "register a schema, get one by id",
    ("registry", "compatibility"): "get and set compatibility levels",
}

COMMANDS: tuple[Command, ...] = (
    Command(("serve",), "cli.serve", "run a broker in the foreground"),
    Command(("dev",), "cli.dev", "run a local cluster in the foreground (Ctrl-C stops it)"),
    Command(("produce",), "cli.produce", "produce one record per stdin line"),
    Command(("consume",), "cli.consume", "consume records and print them"),
    Command(("topic", "create"), "cli.topic.create", "create topics"),
    Command(("topic", "list"), "cli.topic.list", "list topics", ("ls",)),
    Command(("topic", "describe"), "cli.topic.describe", "describe a topic"),
    Command(("topic", "delete"), "cli.topic.delete", "delete topics"),
    Command(("topic", "alter-config"), "cli.topic.alter_config", "set or delete topic configs"),
    Command(("topic", "add-partitions"), "cli.topic.add_partitions", "add partitions"),
    Command(
        ("topic", "transfer-leadership"),
        "cli.topic.transfer_leadership",
        "move a partition's leadership to another in-sync replica",
    ),
    Command(("topic", "produce"), "cli.produce", "alias of `logd produce`"),
    Command(("topic", "consume"), "cli.consume", "alias of `logd consume`"),
    Command(("group", "list"), "cli.group.list", "list consumer groups", ("ls",)),
    Command(("group", "describe"), "cli.group.describe", "members, offsets and lag of groups"),
    Command(("group", "seek"), "cli.group.seek", "move an empty group's committed offsets"),
    Command(("group", "delete"), "cli.group.delete", "delete groups and their offsets"),
    Command(("cluster", "info"), "cli.cluster.info", "brokers and the controller"),
    Command(("cluster", "health"), "cli.cluster.health", "is every partition led and in sync?"),
    Command(("cluster", "partitions", "move"), "cli.cluster.partitions_move",
            "move a partition's replicas to other brokers"),
    Command(("cluster", "partitions", "cancel"), "cli.cluster.partitions_cancel",
            "cancel a partition move (moves it back)"),
    Command(("cluster", "partitions", "status"), "cli.cluster.partitions_status",
            "the partition moves in progress"),
    Command(("cluster", "partitions", "balance"), "cli.cluster.partitions_balance",
            "even out the replicas over the brokers (a new broker takes its share)"),
    Command(("cluster", "broker", "decommission"), "cli.cluster.broker_decommission",
            "move every replica of a broker to the others"),
    Command(("cluster", "broker", "recommission"), "cli.cluster.broker_recommission",
            "stop decommissioning a broker"),
    Command(("cluster", "broker", "status"), "cli.cluster.broker_status",
            "the brokers being decommissioned and what they still host"),
    Command(("cluster", "broker", "unregister"), "cli.cluster.broker_unregister",
            "remove a drained, stopped broker from the cluster for good"),
    Command(("cluster", "controller", "add-voter"), "cli.cluster.controller_add_voter",
            "make a broker a controller voter"),
    Command(("cluster", "controller", "remove-voter"), "cli.cluster.controller_remove_voter",
            "demote a controller voter to learner"),
    Command(("cluster", "controller", "status"), "cli.cluster.controller_status",
            "the controller quorum's leader, voters and learners"),
    Command(("cluster", "config", "set"), "cli.cluster.config_set",
            "set a dynamic config on every broker, without a restart"),
    Command(("cluster", "config", "delete"), "cli.cluster.config_delete",
            "delete a dynamic config: each broker's own value applies again"),
    Command(("cluster", "config", "get"), "cli.cluster.config_get",
            "the dynamic configs and the values the broker applies"),
    Command(("security", "user", "create"), "cli.security.user_create", "create a user"),
    Command(("security", "user", "delete"), "cli.security.user_delete", "delete a user"),
    Command(("security", "user", "list"), "cli.security.user_list", "list users", ("ls",)),
    Command(("security", "acl", "create"), "cli.security.acl_create", "create ACLs"),
    Command(("security", "acl", "list"), "cli.security.acl_list", "list ACLs", ("ls",)),
    Command(("security", "acl", "delete"), "cli.security.acl_delete", "delete matching ACLs"),
    Command(("security", "quota", "alter"), "cli.security.quota_alter", "set or remove quotas"),
    Command(("security", "quota", "describe"), "cli.security.quota_describe", "show quotas"),
    Command(("security", "whoami"), "cli.security.whoami", "the principal the broker sees"),
    Command(("registry", "subject", "list"), "cli.registry.subject_list", "list subjects",
            ("ls",)),
    Command(("registry", "subject", "describe"), "cli.registry.subject_describe",
            "a subject's versions, ids and compatibility"),
    Command(("registry", "subject", "delete"), "cli.registry.subject_delete",
            "delete a subject (soft; --permanent: for good)"),
    Command(("registry", "schema", "create"), "cli.registry.schema_create",
            "register a schema under a subject"),
    Command(("registry", "schema", "get"), "cli.registry.schema_get", "a schema by its id"),
    Command(("registry", "compatibility", "get"), "cli.registry.compatibility_get",
            "the global or a subject's compatibility level"),
    Command(("registry", "compatibility", "set"), "cli.registry.compatibility_set",
            "set the global or a subject's compatibility level"),
)  # fmt: skip


#: Commands that run brokers: their own --tls-* flags are the broker's, not a client's.
_BROKER_COMMANDS = frozenset({("serve",), ("dev",)})


def _global_flags(suppress: bool, *, client_security: bool = True) -> argparse.ArgumentParser:
    default = argparse.SUPPRESS if suppress else None
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-b",
        "--brokers",
        "--bootstrap-server",
        dest="brokers",
        metavar="HOST:PORT[,...]",
        default=default,
        help="brokers to contact (env LOGD_BROKERS; default 127.0.0.1:7070)",
    )
    if client_security:
        _client_security_flags(parent, suppress)
    parent.add_argument(
        "--format",
        dest="output_format",
        choices=("text", "json"),
        default=argparse.SUPPRESS if suppress else "text",
        help="output for people (text) or scripts (json)",
    )
    parent.add_argument(
        "--yes",
        "-y",
        dest="yes",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="do not ask before destructive steps",
    )
    return parent


def _client_security_flags(parent: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    for flag, text in (
        ("--user", "SASL user (env LOGD_USER)"),
        ("--password", "SASL password (env LOGD_PASSWORD)"),
        ("--tls-ca", "CA file that verifies the brokers (env LOGD_TLS_CA); turns TLS on"),
        ("--tls-cert", "client certificate for mTLS (env LOGD_TLS_CERT)"),
        ("--tls-key", "its private key (env LOGD_TLS_KEY)"),
    ):
        parent.add_argument(
            flag, metavar=flag.removeprefix("--").upper(), default=default, help=text
        )
    parent.add_argument(
        "--tls",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="talk TLS, trusting the system's CAs (env LOGD_TLS=1)",
    )


def _load(command: Command) -> ModuleType:
    return importlib.import_module(command.module)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logd",
        description="logd: a replicated, partitioned commit log",
        parents=[_global_flags(suppress=False)],
    )
    late_flags = _global_flags(suppress=True)
    broker_late_flags = _global_flags(suppress=True, client_security=False)
    top = parser.add_subparsers(dest="command", metavar="COMMAND")
    top.required = True
    holders: dict[tuple[str, ...], argparse._SubParsersAction[argparse.ArgumentParser]] = {(): top}
    for path, text in GROUPS.items():
        group = holders[path[:-1]].add_parser(
            path[-1], help=text, description=text, parents=[late_flags]
        )
        nested = any(other[:-1] == path for other in GROUPS)
        below = group.add_subparsers(dest="_".join(path), metavar="NOUN" if nested else "VERB")
        below.required = True
        holders[path] = below
    for command in COMMANDS:
        holder = holders[command.path[:-1]]
        leaf = holder.add_parser(
            command.path[-1],
            help=command.help,
            description=command.help,
            aliases=list(command.aliases),
            parents=[broker_late_flags if command.path in _BROKER_COMMANDS else late_flags],
        )
        _load(command).add_arguments(leaf)
        leaf.set_defaults(_command=command)
    return parser


#: Flags whose values may start with "-" (``-o -10``, ``-o -2:end``): argparse would take
#: such a value for a flag unless it looks like a plain negative number, so glue it on.
_DASH_VALUE_FLAGS = frozenset({"-o", "--offset"})


def _glue_dash_values(argv: list[str]) -> list[str]:
    glued: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _DASH_VALUE_FLAGS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            glued.append(f"{arg}={argv[i + 1]}")
            i += 2
            continue
        glued.append(arg)
        i += 1
    return glued


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(_glue_dash_values(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    keys = ("user", "password", "tls_ca", "tls_cert", "tls_key", "tls")
    security = {k: getattr(args, k, None) for k in keys}
    app = App(
        brokers=args.brokers, output_format=args.output_format, yes=args.yes, security=security
    )
    command: Command = args._command
    try:
        return int(_load(command).run(app, args))
    except CliError as exc:
        _fail(app, str(exc))
        return exc.code
    except KeyboardInterrupt:
        return status.INTERRUPTED
    except BrokenPipeError:
        # `logd consume ... | head` closed our stdout: not an error of ours.
        sys.stderr.close()
        return status.OK
    except Exception as exc:  # the one boundary where every failure becomes one line
        from logd.errors import LogdError

        if isinstance(exc, LogdError):
            _fail(app, describe_error(exc, app))
            return status.ERROR
        _fail(app, f"unexpected {type(exc).__name__}: {exc}")
        return status.ERROR


def describe_error(exc: Exception, app: App) -> str:
    """One line naming the problem and, where there is one, the way out."""
    from logd.client.serde import RegistryClientError
    from logd.errors import BrokerUnavailableError, UnknownTopicOrPartitionError

    if isinstance(exc, RegistryClientError) and exc.http_status == 0:
        return f"{exc}; point --registry-url/LOGD_REGISTRY_URL at a broker's registry listener"

    if isinstance(exc, BrokerUnavailableError):
        return f"{exc}; start one with `logd serve` or point -b/LOGD_BROKERS at a running broker"
    if isinstance(exc, UnknownTopicOrPartitionError):
        return f"{exc} (`logd topic list` shows the topics, `logd topic create` makes one)"
    return str(exc)


def _fail(app: App, message: str) -> None:
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    app.stderr.write(f"error: {first_line}\n")
    app.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
