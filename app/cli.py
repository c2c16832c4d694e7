"""Command-line tools: `flask --app wsgi create-admin`."""

from __future__ import annotations

import click
from flask import Flask

from .errors import ApiError
from .services import users


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
