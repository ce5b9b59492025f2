"""``trustdata api-client``: create, list, rotate and revoke the read API's clients."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import Engine

from trustdata.access.clients import (
    ClientError,
    create_client,
    list_clients,
    revoke_client,
    rotate_key,
)
from trustdata.access.scopes import SCOPE_FORMS, ScopeError, parse_scopes
from trustdata.config.settings import get_settings
from trustdata.config.trust import load_trust_config


def _engine(args: argparse.Namespace) -> Engine:
    from trustdata import orchestration
    from trustdata.warehouse.engine import get_engine, warehouse_url

    orchestration.prepare_warehouse(config_path=args.config)
    return get_engine(warehouse_url())


def _create(args: argparse.Namespace) -> int:
    config = load_trust_config(Path(args.config) if args.config else get_settings().trust_config)
    scopes = parse_scopes(args.scope or [], config)
    key = create_client(
        _engine(args), client_id=args.client_id, scopes=scopes, description=args.description
    )
    print(f"created client {args.client_id} with scopes {' '.join(scopes)}")
    print("its key, shown this once (store it in the client's secret store):")
    print(key)
    return 0


def _list(args: argparse.Namespace) -> int:
    clients = list_clients(_engine(args))
    if not clients:
        print("no clients yet: trustdata api-client create ID --scope ...")
    for c in clients:
        state = f"revoked {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "live"
        print(
            f"{c.client_id}\t{state}\tkey td_{c.key_id}_...\t{' '.join(c.scopes)}"
            f"\tcreated {c.created_at:%Y-%m-%d}\t{c.description}"
        )
    return 0


def _rotate(args: argparse.Namespace) -> int:
    key = rotate_key(_engine(args), client_id=args.client_id)
    print(f"new key for {args.client_id}, shown this once (the old key and tokens stop now):")
    print(key)
    return 0


def _revoke(args: argparse.Namespace) -> int:
    revoke_client(_engine(args), client_id=args.client_id)
    print(f"revoked {args.client_id}: its key and tokens stop now")
    return 0


def _guarded(args: argparse.Namespace) -> int:
    try:
        return int(args.client_func(args))
    except (ClientError, ScopeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``api-client`` and its sub-commands on the ``trustdata`` parser."""
    parser = sub.add_parser("api-client", help="create, list, rotate or revoke read API clients")
    commands = parser.add_subparsers(dest="client_command", required=True)
    create = commands.add_parser("create", help="a new client; prints its key once")
    create.add_argument("client_id", help="e.g. powerbi-north")
    create.add_argument(
        "--scope", action="append", help=f"repeatable: {SCOPE_FORMS}", metavar="SCOPE"
    )
    create.add_argument("--description", default="", help="who or what uses it")
    create.set_defaults(client_func=_create)
    commands.add_parser("list", help="every client, never a key").set_defaults(client_func=_list)
    rotate = commands.add_parser("rotate", help="a new key for a client; the old one stops")
    rotate.add_argument("client_id")
    rotate.set_defaults(client_func=_rotate)
    revoke = commands.add_parser("revoke", help="stop a client's key and tokens")
    revoke.add_argument("client_id")
    revoke.set_defaults(client_func=_revoke)
    parser.set_defaults(func=_guarded)
