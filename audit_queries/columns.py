"""The forensic export's columns, and how each stored event fills them.

One row per event. The envelope and the chain columns are the same for every
event; the *target* columns (who or what an event is about) and the *outcome*
come from extractions registered per event type, so a capability that lands
adds its own (see docs/architecture.md, "adding a capability"):

    extract("domain.vault:File.Downloaded", file_id=uuid_at("file_id"),
            bytes="TRY_CAST(payload->>'$.size' AS BIGINT)")

Extractions are DuckDB SQL expressions over a page of stored events (columns
`topic`, `aggregate_type`, `aggregate_id`, `payload`: the stored JSON as the
application's transcoder wrote it). The export runs them over thousands of
events at a time, in DuckDB's vectorised engine: this runs for every event in
the log, and a Python loop per event was five times slower than reading the log.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

FORMAT = "strongroom-export-v1"

# The columns that say who or what an event is about; each later capability adds
# its own here (a new column is null in files written before it existed, which
# the views read with `union_by_name`).
TARGET_COLUMNS: list[str] = ["user_id", "team_id", "group_id", "project_id", "file_id", "vm_id"]

ENVELOPE_COLUMNS = ["actor_id", "actor_role", "session_id", "request_id", "client_ip", "proxy_ip"]

SCHEMA = pa.schema(
    [
        pa.field("position", pa.int64(), nullable=False),
        pa.field("prev_position", pa.int64(), nullable=False),
        pa.field("recorded_at", pa.timestamp("us", tz="UTC"), nullable=False),
        # "User.RoleChanged": the aggregate's class and the event's name
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("aggregate_type", pa.string(), nullable=False),
        pa.field("aggregate_id", pa.string(), nullable=False),
        pa.field("version", pa.int64(), nullable=False),
        *(pa.field(name, pa.string()) for name in ENVELOPE_COLUMNS),
        *(pa.field(name, pa.string()) for name in TARGET_COLUMNS),
        pa.field("bytes", pa.int64()),
        # as recorded by a refusal: an id, an email, "team:<id>", "alert:<id>"
        pa.field("target", pa.string()),
        pa.field("outcome", pa.string(), nullable=False),  # "allowed" or "denied"
        pa.field("reason", pa.string()),
        # The stored event exactly: topic and payload (the stored JSON, byte for byte
        # as UTF-8) are what the chain's digest is taken over, so an export can be
        # verified with the audit public key alone.
        pa.field("topic", pa.string(), nullable=False),
        pa.field("payload", pa.string(), nullable=False),
        pa.field("chain_hash", pa.string(), nullable=False),  # 64 hex digits
    ]
)
COLUMN_NAMES = SCHEMA.names
RECORDED_AT = "$.timestamp._data_"

# The columns extractions may set, and what each is when none does.
EXTRACTED = [*TARGET_COLUMNS, "bytes", "target", "outcome", "reason"]
# The aggregate types that are themselves a target: their id fills the column.
AGGREGATE_TARGETS: dict[str, str] = {"User": "user_id", "Team": "team_id", "Project": "project_id"}


# JSON paths read from every event, parsed once per event into the list `fields`.
SHARED_PATHS: list[str] = []


def shared(path: str) -> str:
    """A JSON path every event is read at: one parse per event for all of them."""
    if path not in SHARED_PATHS:
        SHARED_PATHS.append(path)
    return f"fields[{SHARED_PATHS.index(path) + 1}]"


def text_at(field: str) -> str:
    """A payload field as text."""
    return shared(f"$.{field}")


def uuid_at(field: str) -> str:
    """A UUID field as canonical text: the transcoder stores {"_type_": "uuid_hex", ...}."""
    wrapped, plain = shared(f"$.{field}._data_"), shared(f"$.{field}")
    return f"CAST(COALESCE(TRY_CAST({wrapped} AS UUID), TRY_CAST({plain} AS UUID)) AS VARCHAR)"


def envelope_at(field: str) -> str:
    """An envelope field as text. An event may carry a field of the same name as its
    own (User.SessionStarted's session_id, a UUID), which then stands in the payload."""
    return f"coalesce({uuid_of(shared(f'$.{field}._data_'))}, {shared(f'$.{field}')})"


def uuid_of(expression: str) -> str:
    """Any text as canonical UUID text, or NULL when it is not one."""
    return f"CAST(TRY_CAST({expression} AS UUID) AS VARCHAR)"


def _default(column: str) -> str:
    if column in TARGET_COLUMNS:
        kinds = [kind for kind, target in AGGREGATE_TARGETS.items() if target == column]
        own = " ".join(f"WHEN '{kind}' THEN aggregate_id" for kind in kinds)
        by_field = uuid_at(column)
        return f"CASE aggregate_type {own} ELSE {by_field} END" if own else by_field
    return {"outcome": "'allowed'"}.get(column, "NULL")


@dataclass(frozen=True)
class Extraction:
    topics: tuple[str, ...]
    columns: dict[str, str]  # column -> SQL expression


EXTRACTIONS: list[Extraction] = []


def extract(*topics: str, **columns: str) -> None:
    """For events of these topics ("module:Class.Event"), set columns to SQL expressions."""
    unknown = set(columns) - set(EXTRACTED)
    if unknown:
        raise ValueError(f"not extracted columns: {sorted(unknown)}")
    EXTRACTIONS.append(Extraction(topics, columns))


def column_expressions() -> dict[str, str]:
    """Each extracted column's SQL: a CASE on the topic over every registered extraction."""
    expressions = {}
    for column in EXTRACTED:
        branches = [
            f"WHEN topic IN ({', '.join(_quoted(t) for t in e.topics)}) THEN {e.columns[column]}"
            for e in EXTRACTIONS
            if column in e.columns
        ]
        default = _default(column)
        expressions[column] = (
            f"CASE {' '.join(branches)} ELSE {default} END" if branches else default
        )
    return expressions


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- identity and logins ---------------------------------------------------------

# A refusal names its target as recorded: a user's id, an email, "team:<id>", "alert:<id>",
# "project:<id>", a tagged resource ("file:<id>", "vm:<id>"), or a placement of one
# into another ("file:<id> -> folder:<id>": the first is what was acted on).
_REFUSAL_TARGET = text_at("target")


def _refused(kind: str) -> str:
    """The id in a refusal's target "<kind>:<id>" (or "<kind>:<id> -> ..."), else NULL."""
    acted_on = f"split_part({_REFUSAL_TARGET}, ' -> ', 1)"
    return (
        f"CASE WHEN starts_with({_REFUSAL_TARGET}, '{kind}:') "
        f"THEN {uuid_of(f'substr({acted_on}, {len(kind) + 2})')} END"
    )


extract(
    "domain.denials:DeniedAttempt.Recorded",
    outcome="'denied'",
    reason=text_at("reason"),
    target=_REFUSAL_TARGET,
    user_id=uuid_of(_REFUSAL_TARGET),
    team_id=_refused("team"),
    project_id=_refused("project"),
    file_id=_refused("file"),
    group_id=_refused("group"),
    vm_id=_refused("vm"),
)
extract(
    "domain.throttling:ThrottledRequests.Counted",
    outcome="'denied'",
    reason="'rate limit'",
    target=text_at("source"),
)
extract("domain.users:User.LoginFailed", outcome="'denied'", reason=text_at("reason"))
# The login a challenge was for; a refused one is also recorded as the refusal
# itself (a DeniedAttempt, or User.LoginFailed for a bad signature).
_CHALLENGE = text_at("outcome")
extract(
    "domain.sessions:Challenge.Used",
    outcome=f"CASE WHEN starts_with({_CHALLENGE}, 'refused') THEN 'denied' ELSE 'allowed' END",
    reason=(
        f"CASE WHEN starts_with({_CHALLENGE}, 'refused: ') THEN substr({_CHALLENGE}, 10) "
        f"WHEN starts_with({_CHALLENGE}, 'refused') THEN {_CHALLENGE} END"
    ),
)
extract("domain.users:User.Locked", "domain.sessions:Session.Ended", reason=text_at("reason"))
extract(
    "domain.alerts:Alert.Raised",
    target=text_at("subject"),
    user_id=uuid_of(text_at("subject")),
)
_READ_TARGET = text_at("target")
extract(
    "domain.reads:DirectoryRead.Recorded",
    target=_READ_TARGET,
    user_id=f"CASE WHEN {text_at('what')} <> 'team' THEN {uuid_of(_READ_TARGET)} END",
    team_id=f"CASE WHEN {text_at('what')} = 'team' THEN {uuid_of(_READ_TARGET)} END",
)

# -- forensics: the history's own readers are part of the history ------------------

# A refused query is also recorded as the refusal itself (a DeniedAttempt); its run
# record says how it ended: answered, failed, stopped at a limit, or refused.
_RUN_OUTCOME = text_at("outcome")
extract(
    "domain.forensic_queries:QueryRun.Recorded",
    outcome=f"CASE WHEN {_RUN_OUTCOME} = 'refused' THEN 'denied' ELSE 'allowed' END",
    reason=text_at("reason"),
    target=f"coalesce({text_at('saved_query')}, 'sql')",
)
extract("domain.forensic_questions:ForensicQuestion.Asked", target=text_at("question"))
# The aggregate looked at may be of any kind: named in `target`, not a target column.
extract("domain.history_reads:HistoryRead.Recorded", target=text_at("target"))
extract("domain.reports:ComplianceReport.Generated", target=text_at("name"))
extract("domain.exports:ExportRead.Recorded", target=text_at("path"))
extract("domain.tokens:AccessToken.Revoked", reason=text_at("reason"))
extract("domain.tokens:TokenUse.Used", target=text_at("route"))

# -- compliance: certifications, projects and the project tags on resources ----------------

# A Project's own events fill project_id with the aggregate (AGGREGATE_TARGETS), and the
# person a membership event is about is its `user_id` field. Every certification event
# names its person (`user_id`), every tag event its resource and project, every
# UserProjects event its person, so each row read alone says whom and what it is about.
# The views `certifications`, `project_tags` and `project_membership` add names.

# Why a certification was withdrawn, a member removed, a project parked.
extract(
    "domain.certifications:Certification.Decertified",
    "domain.projects:Project.MemberRemoved",
    "domain.projects:Project.Parked",
    reason=text_at("reason"),
)
# Every requirement a lapsed member lacks, joined as the project records it ("; ").
extract(
    "domain.projects:Project.MemberLapsed",
    reason=(
        f"array_to_string(TRY_CAST(TRY_CAST({text_at('reasons')} AS JSON) AS VARCHAR[]), '; ')"
    ),
)
# The resource a tag list belongs to, in the column of its kind and as "<kind>:<id>" in
# `target` (the form a refused tagging names it by). A vault folder has no column of its
# own (yet): it is in `target` only.
_TAGGED_KIND, _TAGGED = text_at("kind"), uuid_at("resource_id")
extract(
    "domain.projects:ResourceTags.Opened",
    "domain.projects:ResourceTags.Tagged",
    "domain.projects:ResourceTags.Untagged",
    target=f"{_TAGGED_KIND} || ':' || {_TAGGED}",
    file_id=f"CASE WHEN {_TAGGED_KIND} = 'file' THEN {_TAGGED} END",
    group_id=f"CASE WHEN {_TAGGED_KIND} = 'group' THEN {_TAGGED} END",
    vm_id=f"CASE WHEN {_TAGGED_KIND} = 'vm' THEN {_TAGGED} END",
)
