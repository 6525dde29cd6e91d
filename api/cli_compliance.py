"""`strongroom compliance …` and `strongroom project …`: the compliance client commands.

Requirements, security levels and certifications; projects, their members,
restrictions, parking and the project tags on resources. Like the other client
commands these talk to the server through the client SDK and import none of the
server side. People are named by email (or id); requirements, levels and projects
by name (or id).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import typer

from api.cli_people import Who, logged_in, show, user_ref
from api.console import AsJson, fail, out, print_json, safe, table

if TYPE_CHECKING:
    from client.api import StrongroomClient

compliance_cli = typer.Typer(
    help="Security requirements and levels, certifications, and who is non-compliant.",
    no_args_is_help=True,
)
requirement_cli = typer.Typer(
    help='Security requirements ("HIPAA training"): what a certification is for.',
    no_args_is_help=True,
)
level_cli = typer.Typer(
    help='Security levels ("HIPAA"): the requirements a project\'s members must hold.',
    no_args_is_help=True,
)
compliance_cli.add_typer(requirement_cli, name="requirement")
compliance_cli.add_typer(level_cli, name="level")
project_cli = typer.Typer(
    help="Projects: members, restrictions, parking, and project tags on resources.",
    no_args_is_help=True,
)


class Restriction(StrEnum):
    CANNOT_VIEW = "cannot-view"
    CANNOT_DOWNLOAD = "cannot-download"


class Kind(StrEnum):
    FILE = "file"
    FOLDER = "folder"
    GROUP = "group"
    VM = "vm"


WhichRequirement = Annotated[str, typer.Argument(help="Requirement name or id.")]
WhichLevel = Annotated[str, typer.Argument(help="Security level name or id.")]
WhichProject = Annotated[str, typer.Argument(help="Project name or id.")]
Description = Annotated[str, typer.Option(help="What it is, for the people who read it.")]
Reason = Annotated[str, typer.Option(help="Why, for the record.")]
RestrictOption = Annotated[
    list[Restriction] | None,
    typer.Option("--restrict", help="What the member may not do (repeatable)."),
]
ResourceKind = Annotated[Kind, typer.Argument(help="What is tagged: file, folder, group or vm.")]
ResourceId = Annotated[str, typer.Argument(help="The resource's id.")]


def _by_name(items: list[dict[str, Any]], ref: str, what: str) -> str:
    """The id of the item named `ref` (names are unique regardless of case), or `ref`
    itself when it is an id."""
    try:
        return str(UUID(ref))
    except ValueError:
        pass
    wanted = ref.strip().lower()
    for item in items:
        if str(item["name"]).lower() == wanted:
            return str(item["id"])
    fail(f"no {what} you can see is named {ref}")


def requirement_ref(client: StrongroomClient, ref: str) -> str:
    return _by_name(client.requirements(), ref, "requirement")


def level_ref(client: StrongroomClient, ref: str) -> str:
    return _by_name(client.security_levels(), ref, "security level")


def project_ref(client: StrongroomClient, ref: str) -> str:
    return _by_name(client.projects(), ref, "project")


def expiry(value: str | None) -> str | None:
    """A date means its midnight in UTC; a time must carry its offset (the server says so)."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return value.strip()
    return datetime.combine(day, time(0), tzinfo=UTC).isoformat()


def _names(items: list[dict[str, Any]]) -> str:
    return ", ".join(str(item["name"]) for item in items) or "none"


def _moment(value: str | None, empty: str = "-") -> str:
    return value[:19].replace("T", " ") if value else empty


# -- requirements -------------------------------------------------------------------------


@requirement_cli.command("add")
def requirement_add(
    name: Annotated[str, typer.Argument(help='The requirement\'s name, e.g. "HIPAA training".')],
    lifespan_days: Annotated[
        int | None,
        typer.Option(
            min=1, help="The longest a certification for it lasts, in days (default: no limit)."
        ),
    ] = None,
    description: Description = "",
) -> None:
    """Create a security requirement (admins)."""
    with logged_in() as client:
        requirement_id = client.create_requirement(
            name, description=description, lifespan_days=lifespan_days
        )
    out.print(f"Created requirement {safe(name)} ({safe(requirement_id)}).", highlight=False)


@requirement_cli.command("list")
def requirement_list(as_json: AsJson = False) -> None:
    """List the security requirements."""
    with logged_in() as client:
        requirements = client.requirements()
    if as_json:
        print_json(requirements)
        return
    table(
        ("id", "name", "lifespan days", "description"),
        (
            (r["id"], r["name"], r["lifespan_days"] or "no limit", r["description"])
            for r in requirements
        ),
    )


@requirement_cli.command("change")
def requirement_change(
    requirement: WhichRequirement,
    description: Annotated[str | None, typer.Option(help="A new description.")] = None,
    lifespan_days: Annotated[
        int | None, typer.Option(min=1, help="A new lifespan, in days (applies to new ones).")
    ] = None,
    no_limit: Annotated[
        bool, typer.Option("--no-limit", help="Remove the lifespan: certifications never lapse.")
    ] = False,
) -> None:
    """Change a requirement's description or lifespan (admins)."""
    if no_limit and lifespan_days is not None:
        fail("give --lifespan-days or --no-limit, not both", code=2)
    lifespan: int | None | str = None if no_limit else lifespan_days or "unchanged"
    if description is None and lifespan == "unchanged":
        fail("nothing to change: give --description, --lifespan-days or --no-limit", code=2)
    with logged_in() as client:
        client.change_requirement(
            requirement_ref(client, requirement), description=description, lifespan_days=lifespan
        )
    out.print("Changed.")


# -- security levels ----------------------------------------------------------------------


@level_cli.command("add")
def level_add(
    name: Annotated[str, typer.Argument(help='The level\'s name, e.g. "HIPAA".')],
    requirement: Annotated[
        list[str] | None, typer.Option(help="A requirement it holds, by name or id (repeatable).")
    ] = None,
    description: Description = "",
) -> None:
    """Create a security level from requirements (admins)."""
    with logged_in() as client:
        ids = [requirement_ref(client, r) for r in requirement or []]
        level_id = client.create_security_level(name, description=description, requirement_ids=ids)
    out.print(f"Created security level {safe(name)} ({safe(level_id)}).", highlight=False)


@level_cli.command("list")
def level_list(as_json: AsJson = False) -> None:
    """List the security levels and the requirements each holds."""
    with logged_in() as client:
        levels = client.security_levels()
    if as_json:
        print_json(levels)
        return
    table(
        ("id", "name", "requirements", "description"),
        ((v["id"], v["name"], _names(v["requirements"]), v["description"]) for v in levels),
    )


@level_cli.command("add-requirement")
def level_add_requirement(level: WhichLevel, requirement: WhichRequirement) -> None:
    """Add a requirement to a level; members of its projects who lack it lapse (recorded)."""
    with logged_in() as client:
        affected = client.add_level_requirement(
            level_ref(client, level), requirement_ref(client, requirement)
        )
    out.print(f"Added; projects affected: {safe(_names(affected))}.", highlight=False)


@level_cli.command("remove-requirement")
def level_remove_requirement(
    level: WhichLevel,
    requirement: WhichRequirement,
    acknowledge: Annotated[
        bool,
        typer.Option(
            "--acknowledge", help="Go on although projects use the level (it weakens them)."
        ),
    ] = False,
) -> None:
    """Remove a requirement from a level; a level in use needs --acknowledge."""
    with logged_in() as client:
        affected = client.remove_level_requirement(
            level_ref(client, level), requirement_ref(client, requirement), acknowledge=acknowledge
        )
    out.print(f"Removed; projects affected: {safe(_names(affected))}.", highlight=False)


# -- certifications -----------------------------------------------------------------------


@compliance_cli.command("certify")
def certify(
    user: Who,
    requirement: WhichRequirement,
    expires: Annotated[
        str | None,
        typer.Option(
            help="When it expires: a date (midnight UTC) or a time with its offset, "
            "e.g. 2027-01-31 or 2027-01-31T09:00:00+01:00. Leave out only for a "
            "requirement without a lifespan."
        ),
    ] = None,
) -> None:
    """Certify (or re-certify) a person for a requirement."""
    with logged_in() as client:
        client.certify(
            user_ref(client, user), requirement_ref(client, requirement), expiry(expires)
        )
    out.print("Certified.")


@compliance_cli.command("decertify")
def decertify(user: Who, requirement: WhichRequirement, reason: Reason) -> None:
    """Withdraw a certification; the person's projects that need it stop granting at once."""
    with logged_in() as client:
        client.decertify(user_ref(client, user), requirement_ref(client, requirement), reason)
    out.print("Decertified.")


@compliance_cli.command("certifications")
def certifications(
    expiring_within: Annotated[
        int | None,
        typer.Option(min=1, max=3650, help="Only live ones that expire within this many days."),
    ] = None,
    user: Annotated[str | None, typer.Option(help="Only this person's (email or id).")] = None,
    as_json: AsJson = False,
) -> None:
    """List certifications, soonest expiry first: everyone's or one person's."""
    with logged_in() as client:
        listed = client.certifications(
            user_id=None if user is None else user_ref(client, user),
            expiring_within_days=expiring_within,
        )
    if as_json:
        print_json(listed)
        return
    table(
        ("email", "name", "requirement", "state", "expires", "certified", "revoked because"),
        (
            (
                c["email"] or c["user_id"],
                c["name"] or "",
                c["requirement"],
                c["state"],
                _moment(c["expires_at"], "never"),
                _moment(c["certified_at"]),
                c["revoked_reason"] or "",
            )
            for c in listed
        ),
    )


@compliance_cli.command("non-compliant")
def non_compliant(as_json: AsJson = False) -> None:
    """List project members whose lapse is recorded, why, and since when."""
    with logged_in() as client:
        listed = client.non_compliant_members()
    if as_json:
        print_json(listed)
        return
    table(
        ("project", "email", "name", "reason", "since"),
        (
            (m["project"], m["email"] or m["user_id"], m["name"] or "", m["reason"], m["since"])
            for m in listed
        ),
    )


# -- projects -----------------------------------------------------------------------------


@project_cli.command("create")
def project_create(
    name: Annotated[str, typer.Argument(help="The project's name.")],
    level: Annotated[str, typer.Option(help="Its security level, by name or id.")],
    parent: Annotated[
        str | None, typer.Option(help="Make it a sub-project of this project (name or id).")
    ] = None,
    allows_mixing: Annotated[
        bool,
        typer.Option(
            "--allows-mixing", help="Its data may be placed with other projects' that allow it."
        ),
    ] = False,
    description: Description = "",
) -> None:
    """Create a project (admins)."""
    with logged_in() as client:
        project_id = client.create_project(
            name,
            level_ref(client, level),
            description=description,
            parent_id=None if parent is None else project_ref(client, parent),
            allows_mixing=allows_mixing,
        )
    out.print(f"Created project {safe(name)} ({safe(project_id)}).", highlight=False)


@project_cli.command("list")
def project_list(as_json: AsJson = False) -> None:
    """List the projects you may see."""
    with logged_in() as client:
        listed = client.projects()
    if as_json:
        print_json(listed)
        return
    names = {p["id"]: p["name"] for p in listed}
    table(
        ("id", "name", "level", "parent", "parked", "mixing", "members", "non-compliant"),
        (
            (
                p["id"],
                p["name"],
                p["security_level"],
                names.get(p["parent_id"], p["parent_id"] or ""),
                p["parked"],
                p["allows_mixing"],
                len(p["members"]),
                sum(1 for m in p["members"] if not m["compliant"]),
            )
            for p in listed
        ),
    )


@project_cli.command("show")
def project_show(project: WhichProject, as_json: AsJson = False) -> None:
    """Show one project and its members, their restrictions and compliance."""
    with logged_in() as client:
        found = client.project(project_ref(client, project))
    if as_json:
        print_json(found)
        return
    members = found.pop("members")
    show(found, as_json=False)
    table(
        ("email", "name", "restrictions", "compliant", "reason"),
        (
            (
                m["email"] or m["user_id"],
                m["name"] or "",
                ", ".join(m["restrictions"]) or "none",
                m["compliant"],
                m["reason"] or "",
            )
            for m in members
        ),
    )


@project_cli.command("add-member")
def project_add_member(project: WhichProject, user: Who, restrict: RestrictOption = None) -> None:
    """Admit a person who holds every requirement of the project's levels."""
    with logged_in() as client:
        client.add_project_member(
            project_ref(client, project), user_ref(client, user), [str(r) for r in restrict or []]
        )
    out.print("Added.")


@project_cli.command("remove-member")
def project_remove_member(project: WhichProject, user: Who, reason: Reason) -> None:
    """End a membership; its history stays."""
    with logged_in() as client:
        client.remove_project_member(project_ref(client, project), user_ref(client, user), reason)
    out.print("Removed.")


@project_cli.command("restrict")
def project_restrict(project: WhichProject, user: Who, restrict: RestrictOption = None) -> None:
    """Replace a member's restrictions (none given: lift them all)."""
    with logged_in() as client:
        client.set_project_restrictions(
            project_ref(client, project), user_ref(client, user), [str(r) for r in restrict or []]
        )
    out.print("Restrictions set.")


@project_cli.command("park")
def project_park(project: WhichProject, reason: Reason) -> None:
    """Park a project: it keeps data, members and history, and grants nothing."""
    with logged_in() as client:
        client.park_project(project_ref(client, project), reason)
    out.print("Parked.")


@project_cli.command("unpark")
def project_unpark(project: WhichProject) -> None:
    """Unpark a project: its grants come back as they were."""
    with logged_in() as client:
        client.unpark_project(project_ref(client, project))
    out.print("Unparked.")


@project_cli.command("tag")
def project_tag(kind: ResourceKind, resource: ResourceId, project: WhichProject) -> None:
    """Tag a resource with a project (refused if it would mix projects that forbid it)."""
    with logged_in() as client:
        client.tag(str(kind), resource, project_ref(client, project))
    out.print("Tagged.")


@project_cli.command("untag")
def project_untag(kind: ResourceKind, resource: ResourceId, project: WhichProject) -> None:
    """Remove a project tag from a resource."""
    with logged_in() as client:
        client.untag(str(kind), resource, project_ref(client, project))
    out.print("Untagged.")


@project_cli.command("tags")
def project_tags(
    kind: Annotated[Kind | None, typer.Option(help="Only this kind of resource.")] = None,
    resource: Annotated[str | None, typer.Option(help="Only this resource (id).")] = None,
    project: Annotated[str | None, typer.Option(help="Only this project (name or id).")] = None,
    as_json: AsJson = False,
) -> None:
    """List project tags on resources, of the projects you may see."""
    with logged_in() as client:
        listed = client.tags(
            kind=None if kind is None else str(kind),
            resource_id=resource,
            project_id=None if project is None else project_ref(client, project),
        )
    if as_json:
        print_json(listed)
        return
    table(
        ("kind", "resource", "project"),
        ((t["kind"], t["resource_id"], t["project"]) for t in listed),
    )
