"""Command line for the people who sign in to the web pages: ``cordon users create|list|disable|password``.

Like the other ``cordon`` commands these act on the data directory directly,
as the node's administrator, audited with the actor ``cli:<user>``. A
password is asked for twice without echo, or read from the first line of
standard input with ``--password-stdin`` (for scripts).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .users import ROLES
from .command_group import CordonGroup, actor


DATA_DIR = click.option(
    "--data-dir", type=click.Path(file_okay=False, path_type=Path), envvar="CORDON_DATA_DIR",
    default=Path("./cordon-data"), show_default=True, show_envvar=True, help="The node's data directory.",
)
PASSWORD_STDIN = click.option("--password-stdin", is_flag=True,
                              help="Read the password from the first line of standard input.")


def registry(data_dir: Path):
    from .runtime import NodeRuntime
    from .schema import migrate
    from .users import UserRegistry

    runtime = NodeRuntime(data_dir)
    migrate(runtime.db())
    return UserRegistry(runtime.db())


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")


@click.group("users", cls=CordonGroup)
def users():
    """People who sign in to the node's web pages, and their roles."""


@users.command("create")
@DATA_DIR
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES),
              help="What the user may do; the same rights as the API scope of that name.")
@PASSWORD_STDIN
def users_create(data_dir, name, role, password_stdin):
    """Create a user who signs in to the web pages with NAME and a password."""
    users_registry = registry(data_dir)
    user = users_registry.create(name, role, read_password(password_stdin), actor=actor())
    click.echo(f"created user {user.name} with role {user.role}")


@users.command("list")
@DATA_DIR
def users_list(data_dir):
    """List users, their role and state."""
    rows = registry(data_dir).list()
    if not rows:
        click.echo("no users; create one with: cordon users create NAME --role ROLE")
        return
    click.echo(f"{'NAME':24} {'ROLE':12} {'STATE':9} {'FAILED':6} LAST SIGN-IN")
    for user in rows:
        state = "disabled" if not user.active else ("locked" if user.locked_until else "active")
        click.echo(f"{user.name:24} {user.role:12} {state:9} {user.failed_logins:<6} {user.last_login_at or '-'}")


@users.command("disable")
@DATA_DIR
@click.argument("name")
def users_disable(data_dir, name):
    """Disable a user: they can no longer sign in, and their open sessions end now."""
    user = registry(data_dir).disable(name, actor=actor())
    click.echo(f"disabled user {user.name}")


@users.command("enable")
@DATA_DIR
@click.argument("name")
def users_enable(data_dir, name):
    """Let a disabled user sign in again, with the password they had."""
    user = registry(data_dir).enable(name, actor=actor())
    click.echo(f"enabled user {user.name}")


@users.command("password")
@DATA_DIR
@click.argument("name")
@PASSWORD_STDIN
def users_password(data_dir, name, password_stdin):
    """Set a new password for a user (their open sessions end; a lock is lifted)."""
    user = registry(data_dir).set_password(name, read_password(password_stdin), actor=actor())
    click.echo(f"new password set for {user.name}")
    if not user.active:
        click.echo(f"{user.name} is still disabled; to let them sign in: cordon users enable {user.name}")


if __name__ == "__main__":
    users()
