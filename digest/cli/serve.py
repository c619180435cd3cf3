"""`digest serve`: the web app (subscribe, confirm, unsubscribe, archive, webhooks)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from digest.cli.common import clock_from_env, config_option, err_console, handle_errors, load
from digest.config import Secrets

SECRET_HELP = (
    "DIGEST_SECRET_KEY is not set. `digest serve` signs every confirm and unsubscribe link "
    "with it, so it refuses to start without one. Create one and keep it (links stop working "
    "if it changes):\n"
    "    export DIGEST_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')\n"
    "Use the same value for `digest send`, so the unsubscribe links in issues work."
)


@click.command("serve")
@click.option("--host", default=None, help="Interface to listen on (default: web.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port to listen on (default: web.port, 8000).")
@config_option
@handle_errors
def serve_command(host: str | None, port: int | None, config_path: Path | None) -> None:
    """Run the web app: the subscribe page, confirm and unsubscribe links (with the RFC 8058
    one-click POST), the archive, the delivery webhooks and /healthz.

    Needs DIGEST_SECRET_KEY in the environment. Links in emails point at
    newsletter.public_url: put the app behind a proxy that serves that address.

    \b
    Example:
        export DIGEST_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')
        digest serve --host 127.0.0.1 --port 8000
    """
    cfg = load(config_path)
    secrets = Secrets.from_env()
    if not secrets.secret_key:
        err_console.print(f"[bold red]error:[/] {SECRET_HELP}", markup=True, soft_wrap=True,
                          highlight=False)
        sys.exit(2)
    import uvicorn

    from subscribers.db import open_store
    from subscribers.web.app import create_app

    store = open_store(cfg.database_url, base_dir=cfg.base_dir)
    app = create_app(cfg, store=store, secrets=secrets, clock=clock_from_env())
    bind_host = host or cfg.web.host
    bind_port = cfg.web.port if port is None else port
    click.echo(f"Serving {cfg.newsletter.name} on http://{bind_host}:{bind_port} "
               f"(links in emails use {cfg.newsletter.public_url}); Ctrl+C stops.")
    try:
        uvicorn.run(app, host=bind_host, port=bind_port, log_level="info",
                    proxy_headers=True, server_header=False)
    finally:
        store.dispose()


def register(cli: click.Group) -> None:
    """Add this module's commands to the ``digest`` group."""
    cli.add_command(serve_command)
