"""What every ``cordon`` command group shares: one clear error line, the CLI actor name."""

from __future__ import annotations

import getpass
import sys

import click

from .errors import NodeError


def fail(message: str, code: int = 1):
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def actor() -> str:
    """The audit actor for commands run by a person at the node: ``cli:<user>``."""
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli:unknown"


class CordonGroup(click.Group):
    """Turns the node's own errors into one clear line on stderr and exit status 1. Its subgroups are
    CordonGroups too, so an error names the options of the command that was run."""

    group_class = type  # click: subgroups made with @group.group() are of this group's class

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except NodeError as exc:
            options = self._option_names(ctx)
            details = "".join(f"\n  {options.get(field, field)}: {reason}" for field, reason in exc.fields.items())
            fail(exc.message + details)

    def _option_names(self, ctx) -> dict[str, str]:
        """The invoked command's options by the field each fills (``customs_office`` -> ``--office``), so an
        error names what the person typed."""
        command = self.get_command(ctx, ctx.invoked_subcommand) if ctx.invoked_subcommand else None
        names: dict[str, str] = {}
        for param in getattr(command, "params", ()):
            if isinstance(param, click.Option) and param.name:
                shown = max(param.opts, key=len)
                names[param.name] = shown
                for opt in param.opts:  # --scope fills "scopes" but an error may say "scope"
                    names.setdefault(opt.lstrip("-").replace("-", "_"), shown)
        return names
