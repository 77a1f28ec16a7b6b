"""`injector user` and `injector apikey`: who may use the service, and with which role.

Users and keys live in the credentials file beside the record (injector/service/
credentials.py says why there); each one made or revoked is also written to the record's
actions, by name, with the account that made it. A PIN or password is read from standard
input (asked twice at a terminal, without echo); an API key is printed once.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from drivers.values import ValueRefused
from injector import inputs
from injector.cli.common import add_value, format_table, print_json, typed
from injector.cli.session_cmds import add_db_option
from injector.errors import InjectorError
from injector.service.credentials import (
    CredentialKind, Credentials, Role, credentials_path,
)
from injector.store import Store, default_db_path

ROLES = ", ".join(r.value for r in Role)


class SecretNotRead(InjectorError):
    """No PIN or password could be read, or the two typed differ."""


def register(subparsers) -> None:
    p = subparsers.add_parser("user", help="the service's users: add, list, disable",
                              description="Users who sign in to the service, with a role "
                                          f"({ROLES}).")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user; the PIN or password from standard input",
                             epilog="example: printf '%s\\n' \"$PIN\" | injector user add "
                                    "a.novak --role technician")
    add.add_argument("name", type=typed(inputs.USER_NAME, "user name"))
    add.add_argument("--role", required=True, type=role, help=ROLES)
    add_db_option(add)
    add.set_defaults(handler=user_add_command)
    listing = actions.add_parser("list", help="every user, with role and state")
    add_db_option(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=user_list_command)
    disable = actions.add_parser("disable", help="disable a user for good (their sign-ins end)")
    disable.add_argument("name", type=typed(inputs.USER_NAME, "user name"))
    add_value(disable, "--reason", inputs.REASON, "why (recorded)", required=True)
    add_db_option(disable)
    disable.set_defaults(handler=user_disable_command)

    p = subparsers.add_parser("apikey", help="API keys for machines: add, list, revoke",
                              description="Keys that machine clients (a clinic's system, a CI "
                                          f"pipeline) send as Authorization: Bearer, with a "
                                          f"role ({ROLES}).")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="make a key and print it, once",
                             epilog="example: injector apikey add ci-pipeline --role clinician")
    add.add_argument("name", type=typed(inputs.KEY_NAME, "key name"))
    add.add_argument("--role", required=True, type=role, help=ROLES)
    add_db_option(add)
    add.set_defaults(handler=key_add_command)
    listing = actions.add_parser("list", help="every key (never the key itself)")
    add_db_option(listing)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=key_list_command)
    revoke = actions.add_parser("revoke", help="revoke a key for good")
    revoke.add_argument("name", type=typed(inputs.KEY_NAME, "key name"))
    add_value(revoke, "--reason", inputs.REASON, "why (recorded)", required=True)
    add_db_option(revoke)
    revoke.set_defaults(handler=key_revoke_command)


def role(raw: str) -> Role:
    from injector.cli.common import OptionRefused

    try:
        return Role.parse(raw.strip().lower())
    except ValueRefused as refused:
        raise OptionRefused(ValueRefused("--role", raw, refused.problem, refused.limit)) from None


def _paths(args, *, making: bool = False) -> tuple[Path, Credentials]:
    """The record and the credentials beside it. A command that makes a user or a key makes
    the default record's folder (the first user of a new device; a --db folder was checked
    to exist); one that only reads never creates anything."""
    record = Path(args.db) if args.db else default_db_path()
    if making and not args.db:
        record.parent.mkdir(parents=True, exist_ok=True)
    return record, Credentials(credentials_path(record))


def _account() -> str:
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return "os:unknown"


def _recorded(record: Path, action: str, target: str, detail: str) -> None:
    store = Store(record)
    try:
        store.record_action(user=_account(), role="-", via="command-line", address=None,
                            action=action, target=target, outcome="ok", detail=detail).result()
    finally:
        store.close()


def read_secret() -> str:
    """The PIN or password: asked twice without echo at a terminal, else the first line of
    standard input (its line ending removed, nothing else)."""
    if sys.stdin.isatty():
        first = getpass.getpass("PIN or password: ")
        if getpass.getpass("again: ") != first:
            raise SecretNotRead("the two differ; nothing was changed")
        secret = first
    else:
        line = sys.stdin.readline()
        if not line:
            raise SecretNotRead("no PIN or password on standard input; give it as the "
                                "first line")
        secret = line[:-1] if line.endswith("\n") else line
        secret = secret[:-1] if secret.endswith("\r") else secret
    try:
        return inputs.SECRET.check(secret)
    except ValueRefused as refused:
        raise ValueRefused("PIN or password", "(hidden)", refused.problem,
                           refused.limit) from None


def user_add_command(args: argparse.Namespace) -> int:
    record, credentials = _paths(args, making=True)
    secret = read_secret()
    user = credentials.add_user(args.name, args.role, secret, by=_account())
    _recorded(record, "user.add", user.name, f"role {user.role.value}")
    print(f"user {user.name} added ({user.role.value}); credentials in {credentials.path}")
    return 0


def key_add_command(args: argparse.Namespace) -> int:
    record, credentials = _paths(args, making=True)
    key, text = credentials.add_key(args.name, args.role, by=_account())
    _recorded(record, "apikey.add", key.name, f"role {key.role.value}, id {key.key_id}")
    print(text)
    print(f"API key {key.name} ({key.role.value}): shown once, only its hash is kept; send "
          "it as Authorization: Bearer KEY", file=sys.stderr)
    return 0


def user_disable_command(args: argparse.Namespace) -> int:
    record, credentials = _paths(args)
    credentials.revoke(CredentialKind.USER, args.name, by=_account(), reason=args.reason)
    _recorded(record, "user.disable", args.name, args.reason)
    print(f"user {args.name} disabled")
    return 0


def key_revoke_command(args: argparse.Namespace) -> int:
    record, credentials = _paths(args)
    credentials.revoke(CredentialKind.KEY, args.name, by=_account(), reason=args.reason)
    _recorded(record, "apikey.revoke", args.name, args.reason)
    print(f"API key {args.name} revoked")
    return 0


def user_list_command(args: argparse.Namespace) -> int:
    users = list(_paths(args)[1].snapshot().users.values())
    rows = [{"name": u.name, "role": u.role.value, "created_at": u.created_at,
             "created_by": u.created_by, "disabled": u.disabled} for u in users]
    if args.json:
        print_json(rows)
    elif rows:
        print(format_table(["name", "role", "added", "by", "state"],
                           [[r["name"], r["role"], r["created_at"][:19], r["created_by"],
                             "disabled" if r["disabled"] else "active"] for r in rows]))
    else:
        print("no users")
    return 0


def key_list_command(args: argparse.Namespace) -> int:
    keys = list(_paths(args)[1].snapshot().keys.values())
    rows = [{"name": k.name, "id": k.key_id, "role": k.role.value,
             "created_at": k.created_at, "created_by": k.created_by, "revoked": k.revoked}
            for k in keys]
    if args.json:
        print_json(rows)
    elif rows:
        print(format_table(["name", "id", "role", "added", "by", "state"],
                           [[r["name"], r["id"], r["role"], r["created_at"][:19],
                             r["created_by"], "revoked" if r["revoked"] else "active"]
                            for r in rows]))
    else:
        print("no API keys")
    return 0
