"""Command-line tools: `flask --app wsgi create-admin`."""

from __future__ import annotations

import click
from flask import Flask

import os
from pathlib import Path

from .errors import ApiError
from .services.accounts import api_keys, users


def register_cli(app: Flask) -> None:
    @app.cli.command("create-admin")
    @click.option("--username", prompt=True, help="User name of the admin.")
    @click.password_option(help="Password (asked for, twice, when not given).")
    def create_admin(username: str, password: str) -> None:
        """Create an admin, or make an existing user admin with this password (account recovery)."""
        try:
            existing = users.find_user(username)
            if existing is None:
                users.create_user(username, password, "admin")
                click.echo(f"Created admin {username}.")
            else:
                users.set_password(existing, password)
                users.set_role(existing, "admin")
                click.echo(f"{existing.username} is an admin with the new password.")
        except ApiError as exc:
            raise click.ClickException(exc.message) from None

    @app.cli.command("create-api-key")
    @click.option("--name", required=True, help="What the key is for, e.g. the node's name.")
    @click.option("--scope", "scopes", multiple=True, type=click.Choice(api_keys.SCOPES), required=True,
                  help="api (the OpenAI API), node (node agents), admin (everything); repeatable.")
    @click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
                  help="Write the key to this file (mode 0600) instead of printing it.")
    def create_api_key(name: str, scopes: tuple[str, ...], output: Path | None) -> None:
        """Create an API key (for scripts and node agents); it is shown or written once."""
        _, plaintext = api_keys.create_key(name, sorted(set(scopes), key=api_keys.SCOPES.index), None, "command line")
        if output is None:
            click.echo(plaintext)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(plaintext + "\n")
        click.echo(f"API key {name!r} written to {output}.")
