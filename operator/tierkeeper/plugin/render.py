"""Renders an `EnvironmentView` for the terminal with rich; every line plain text with
colour on top, so the view reads the same without colour (a pipe, a test)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tierkeeper.plugin.view import IN_PROGRESS, ConditionLine, EnvironmentView, RolloutLine

STATUS_STYLE = {"True": "green", "False": "red", "Unknown": "yellow"}
PHASE_STYLE = {
    "Promoted": "green",
    "Failed": "red",
    "RolledBack": "red",
    "AwaitingPromotion": "yellow",
}
ROLE_STYLE = {"active": "green", "preview": "cyan", "standby": "yellow", "idle": "dim"}


def duration(span: timedelta) -> str:
    """`1h02m`, `3m05s`, `7s`: the two largest units."""
    seconds = int(span.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def render(view: EnvironmentView) -> RenderableType:
    parts: list[RenderableType] = [_header(view)]
    if view.deployments:
        parts.append(_deployments(view))
    if view.rollout is not None:
        parts.append(_rollout(view.rollout))
    else:
        parts.append(Text("Release:   none (the app runs once a Release names this Environment)"))
    if view.standby is not None:
        parts.append(
            Text.assemble(
                "Standby:   ",
                (view.standby.color, ROLE_STYLE["standby"]),
                f" kept for instant rollback for {duration(view.standby.left)}"
                f" (until {view.standby.until:%H:%M:%S} UTC)",
            )
        )
    parts.append(_cost(view))
    parts.append(_backups(view))
    if view.endpoints:
        parts.append(Text("Endpoints: " + ", ".join(f"{k} {v}" for k, v in view.endpoints)))
    parts.append(_conditions("Conditions", view.conditions))
    return Group(*parts)


def render_many(views: Sequence[EnvironmentView], focus: str | None) -> RenderableType:
    """A summary line per Environment, then the full view of `focus` (if among them)."""
    table = Table(title="Environments", title_justify="left", box=None, pad_edge=False)
    for column in ("NAMESPACE", "NAME", "TIER", "READY", "PHASE", "IMAGE", "COST"):
        table.add_column(column)
    for view in views:
        rollout = view.rollout
        table.add_row(
            view.namespace,
            view.name,
            view.tier or "",
            _status(view.ready.status if view.ready else "Unknown"),
            _phase(rollout.phase if rollout else None),
            (rollout.active_image or rollout.target_image or "") if rollout else "",
            _dollars(view.cost.monthly_usd),
        )
    parts: list[RenderableType] = [table]
    parts += [Text(""), render(v)] if (v := _named(views, focus)) else []
    return Group(*parts)


def _named(views: Sequence[EnvironmentView], name: str | None) -> EnvironmentView | None:
    return next((v for v in views if v.name == name), None)


def _status(status: str) -> Text:
    return Text(status, STATUS_STYLE.get(status, ""))


def _phase(phase: str | None) -> Text:
    return Text(phase or "-", PHASE_STYLE.get(phase or "", "cyan"))


def _dollars(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}/month"


def _header(view: EnvironmentView) -> Text:
    text = Text.assemble(
        ("Environment ", "bold"),
        (view.name, "bold"),
        f" (namespace {view.namespace}, tier {view.tier or '?'})  ",
    )
    ready = view.ready
    if ready is None:
        text.append("no status yet", "yellow")
    else:
        text.append(f"Ready={ready.status}", STATUS_STYLE.get(ready.status, ""))
        text.append(f" {ready.reason}")
    if view.suspended:
        text.append("  SUSPENDED (app at zero pods)", "yellow")
    if view.stale:
        text.append("  status older than the spec", "yellow")
    return text


def _deployments(view: EnvironmentView) -> Table:
    table = Table(box=None, pad_edge=False)
    for column in ("DEPLOYMENT", "ROLE", "IMAGE", "READY", "TRAFFIC"):
        table.add_column(column)
    for line in view.deployments:
        table.add_row(
            Text(line.name, "bold"),
            Text(line.role, ROLE_STYLE.get(line.role, "")),
            line.image or "-",
            Text(f"{line.ready}/{line.wanted}", "green" if line.ready >= line.wanted else "yellow"),
            Text("<- Service", "bold green") if line.selected else Text(""),
        )
    return table


def _rollout(rollout: RolloutLine) -> Group:
    phase = Text.assemble("Release:   ", (rollout.release, "bold"), "  phase ")
    phase.append_text(_phase(rollout.phase))
    if rollout.step_age is not None:
        phase.append(f" for {duration(rollout.step_age)}")
    if rollout.target_image:
        phase.append(f"  -> {rollout.target_image}")
    lines: list[RenderableType] = [phase]
    if rollout.step is not None:
        lines.append(Text(f"Step:      {rollout.step}", "cyan"))
    if rollout.gate is not None:
        gate = rollout.gate
        lines.append(
            Text.assemble(
                "Gate:      ",
                (f"Healthy={gate.status}", STATUS_STYLE.get(gate.status, "")),
                f" {gate.reason}: {gate.message}",
            )
        )
    # Not Ready is the normal state of a rollout in progress; only its end needs a reason.
    if (
        rollout.ready is not None
        and rollout.ready.status != "True"
        and rollout.phase not in IN_PROGRESS
    ):
        lines.append(Text(f"Why:       {rollout.ready.reason}: {rollout.ready.message}", "red"))
    if rollout.history:
        recent = ", ".join(f"{image} {outcome}" for outcome, image in rollout.history[-3:])
        lines.append(Text(f"History:   {recent}", "dim"))
    return Group(*lines)


def _cost(view: EnvironmentView) -> Text:
    cost = view.cost
    text = Text(f"Cost:      {_dollars(cost.monthly_usd)}")
    if cost.budget_usd is not None:
        text.append(f" of a ${cost.budget_usd:,.2f} budget")
        if cost.over_budget:
            text.append("  OVER BUDGET", "bold red")
    return text


def _backups(view: EnvironmentView) -> Text:
    backups = view.backups
    if backups is None:
        return Text("Backups:   -")
    if backups.status != "True":
        return Text(f"Backups:   {backups.reason}: {backups.message}", "yellow")
    text = Text(f"Backups:   {backups.message}")
    if view.last_backup_age is not None:
        text.append(f" ({duration(view.last_backup_age)} ago)")
    return text


def _conditions(title: str, conditions: Sequence[ConditionLine]) -> Table:
    table = Table(title=title, title_justify="left", box=None, pad_edge=False)
    for column in ("TYPE", "STATUS", "REASON", "MESSAGE"):
        table.add_column(column)
    for condition in conditions:
        table.add_row(
            condition.type,
            _status(condition.status),
            condition.reason,
            condition.message,
        )
    return table
