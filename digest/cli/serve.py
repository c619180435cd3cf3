"""`digest serve`: the web app (subscribe, confirm, unsubscribe, archive, webhooks)."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.common import clock_from_env, config_option, err_console, handle_errors, load
from digest.config import Config, Secrets
from digest.errors import DeliveryConfigError
from digest.signing_secret import (
    MIN_SECRET_CHARS,
    NEW_KEY_COMMAND,
    SigningKeys,
    check_key,
    dev_secret_path,
    previous_keys,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from digest.store.database import Store

# --workers: what uvicorn imports in each worker process, and how it finds the config
WORKER_APP = "digest.cli.serve:worker_app"
CONFIG_ENV = "DIGEST_CONFIG"  # the --config option's own variable

SECRET_HELP = (
    "DIGEST_SECRET_KEY is not set. `digest serve` signs every confirm and unsubscribe link "
    "with it, so it refuses to start without one. Create one and keep it (links stop working "
    "if it changes):\n"
    f"    export DIGEST_SECRET_KEY=$({NEW_KEY_COMMAND})\n"
    "Use the same value for `digest send`, so the unsubscribe links in issues work."
)


@click.command("serve")
@click.option("--host", default=None, help="Interface to listen on (default: web.host, 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port to listen on (default: web.port, 8000).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes serving the port (uvicorn's); each keeps its own connections.",
)
@config_option
@handle_errors
def serve_command(
    host: str | None, port: int | None, workers: int, config_path: Path | None
) -> None:
    """Run the web app: the subscribe page, confirm and unsubscribe links (with the RFC 8058
    one-click POST), the archive, the delivery webhooks and /healthz.

    With --workers N, N processes answer on the one port (rate limits, webhooks and
    links are shared through the database, so they behave as one; so do replicas on
    other machines using the same database and DIGEST_SECRET_KEY).

    Needs DIGEST_SECRET_KEY in the environment: the key `digest send` signed the links
    with, or a new one with the old ones in DIGEST_SECRET_KEY_PREVIOUS (comma-separated;
    they still verify). It refuses a key that would break the links already sent: see
    `digest keys rotate`. Links in emails point at newsletter.public_url: put the app
    behind a proxy that serves that address.

    \b
    Example:
        export DIGEST_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')
        digest serve --host 127.0.0.1 --port 8000
    """
    cfg = load(config_path)
    secrets = Secrets.from_env()
    keys = _serving_keys(cfg, secrets)
    from subscribers.webhooks import config_warnings

    for warning in config_warnings(cfg):
        err_console.print(f"warning: {warning}", markup=False, soft_wrap=True, highlight=False)
    bind_host = host or cfg.web.host
    bind_port = cfg.web.port if port is None else port
    _check_can_listen(bind_host, bind_port)
    import uvicorn

    from subscribers.web.accesslog import uvicorn_log_config
    from subscribers.web.limits import uvicorn_options

    store = _open_serving_store(cfg)
    try:
        check_key(cfg, store, keys)  # links already sent must keep working
    except BaseException:
        store.dispose()
        raise
    app: Starlette | str
    if workers == 1:
        app = _build_app(cfg, store, secrets)
    else:
        # Each worker process builds its own app (and engine) from the same config file:
        # a database connection cannot cross into a child process.
        store.dispose()
        if cfg.path is not None:
            os.environ[CONFIG_ENV] = str(cfg.path.resolve())
        app = WORKER_APP
    every = f" ({workers} worker processes)" if workers > 1 else ""
    click.echo(
        f"Serving {cfg.newsletter.name} on http://{bind_host}:{bind_port}{every} "
        f"(links in emails use {cfg.newsletter.public_url}); Ctrl+C stops."
    )
    try:
        uvicorn.run(
            app,
            host=bind_host,
            port=bind_port,
            workers=workers,  # not None: uvicorn would read $WEB_CONCURRENCY and exit
            factory=workers > 1,
            log_level="info",
            log_config=uvicorn_log_config(),
            proxy_headers=True,
            server_header=False,
            **uvicorn_options(),
        )  # request heads capped (431)
    finally:
        store.dispose()


def _open_serving_store(cfg: Config, *, migrate: bool = True) -> Store:
    from digest.store.database import open_store
    from subscribers.web.database import DATABASE_THREADS

    # Connections kept open (requests beyond them wait for one): one for each of the pages'
    # database threads, and as many again for the confirmation emails on Starlette's pool.
    return open_store(
        cfg.database_url,
        base_dir=cfg.base_dir,
        serialize=True,
        pool_size=2 * DATABASE_THREADS,
        migrate=migrate,
    )


def _build_app(cfg: Config, store: Store, secrets: Secrets) -> Starlette:
    from subscribers.web.app import create_app

    return create_app(cfg, store=store, secrets=secrets, clock=clock_from_env())


def worker_app() -> Starlette:
    """The app of one ``--workers`` process (uvicorn calls it in each child). The parent
    has checked the key and migrated the database; the config file is the parent's."""
    cfg = load(Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    return _build_app(cfg, _open_serving_store(cfg, migrate=False), Secrets.from_env())


def _serving_keys(cfg: Config, secrets: Secrets) -> SigningKeys:
    """The keys from the environment, or a configuration error (exit 2) saying how to set
    them. No development secret here: serving the sample's links takes it set explicitly."""
    if not secrets.secret_key:
        message = SECRET_HELP
        dev = dev_secret_path(cfg)
        if dev is not None and dev.exists():
            message += (
                "\nThis config's sends were signed with a generated development secret; to "
                f"serve their links on this machine:\n    export DIGEST_SECRET_KEY=$(cat {dev})"
            )
        raise DeliveryConfigError(message)
    if len(secrets.secret_key) < MIN_SECRET_CHARS:
        raise DeliveryConfigError(
            f"DIGEST_SECRET_KEY is only {len(secrets.secret_key)} characters: anyone holding "
            "one of its links could guess it and forge links that unsubscribe other readers. "
            f"Use at least {MIN_SECRET_CHARS}, for example:\n"
            f"    export DIGEST_SECRET_KEY=$({NEW_KEY_COMMAND})"
        )
    return SigningKeys(secrets.secret_key, previous_keys(secrets))


def _check_can_listen(host: str, port: int) -> None:
    """Exit with a message naming the address when it cannot be listened on (uvicorn would
    log an error and exit 3)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        err_console.print(
            f"[bold red]error:[/] --host {host!r} is not an address of this "
            f"machine: {exc.strerror}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
        sys.exit(2)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            probe.bind(address)
        except OSError as exc:
            hint = (
                " (another program, or another `digest serve`, is using it; pick another "
                "with --port or web.port)"
                if exc.errno == errno.EADDRINUSE
                else ""
            )
            err_console.print(
                f"[bold red]error:[/] cannot listen on {host}:{port}: {exc.strerror}{hint}",
                markup=True,
                highlight=False,
                soft_wrap=True,
            )
            sys.exit(1)


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(serve_command)
