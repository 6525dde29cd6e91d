"""The demo's saved forensic queries: what an officer of the demo organisation asks often.

Saved by the demo's compliance officer through the real use case, so each is
checked, recorded and listed exactly as one saved over the API would be.
"""

from __future__ import annotations

from api.world import World
from audit_queries.query_engine import SqlCheck
from domain.forensic_queries import ForensicQueries
from domain.saved_queries import Definition, Parameter, ParameterType, ReturnType

# An IPv4 address as a number (no inet extension in an air-gapped DuckDB).
_IPV4 = (
    "list_reduce(list_transform(string_split({0}, '.'), lambda x: CAST(x AS BIGINT)), "
    "lambda a, b: a * 256 + b)"
)

SAVED_QUERIES: dict[str, Definition] = {
    "denials-by-reason": Definition(
        description="Refused actions in the last N days, by reason: a chart of what is refused.",
        tags=("denials", "monthly"),
        return_type=ReturnType.SERIES,
        parameters=(Parameter("days", ParameterType.INT, "how many days back", 30),),
        sql="""SELECT reason, count(*) AS refusals
FROM denials
WHERE recorded_at >= now() - to_days(CAST($days AS INTEGER))
GROUP BY reason
ORDER BY refusals DESC, reason""",
    ),
    "logins-outside-network": Definition(
        description="Logins and refused logins from outside a network (IPv4 CIDR), newest first.",
        tags=("logins", "network"),
        parameters=(Parameter("cidr", ParameterType.TEXT, "the campus network", "10.0.0.0/8"),),
        sql=f"""WITH network AS (
    SELECT {_IPV4.format("split_part($cidr, '/', 1)")} AS base,
        32 - CAST(coalesce(nullif(split_part($cidr, '/', 2), ''), '32') AS INTEGER) AS shift
),
addressed AS (
    SELECT l.*, CASE WHEN regexp_full_match(l.client_ip, '[0-9]+[.][0-9]+[.][0-9]+[.][0-9]+')
        THEN {_IPV4.format("l.client_ip")} END AS address
    FROM logins l
)
SELECT a.recorded_at, a.email, a.client_ip, a.outcome, a.reason, a.position
FROM addressed a, network n
WHERE a.address IS NULL OR (a.address >> n.shift) <> (n.base >> n.shift)
ORDER BY a.position DESC""",
    ),
    "permission-changes": Definition(
        description="Who gained or lost a permission (audit by default), when, and by whom.",
        tags=("permissions", "audit", "monthly"),
        parameters=(Parameter("permission", ParameterType.TEXT, "e.g. audit, download", "audit"),),
        sql="""SELECT recorded_at, email,
    CASE WHEN list_contains(from_json(after, '["VARCHAR"]'), $permission)
        THEN 'gained' ELSE 'lost' END AS change,
    actor_email AS changed_by, position
FROM permission_changes
WHERE list_contains(from_json(before, '["VARCHAR"]'), $permission)
    <> list_contains(from_json(after, '["VARCHAR"]'), $permission)
ORDER BY position""",
    ),
    "forensic-queries-run": Definition(
        description="Who asked the history what in the last N days: every forensic query run.",
        tags=("audit", "queries"),
        parameters=(Parameter("days", ParameterType.INT, "how many days back", 7),),
        sql="""SELECT recorded_at, actor_email,
    coalesce(payload->>'$.saved_query', left(payload->>'$.sql', 200)) AS query,
    payload->>'$.outcome' AS outcome, CAST(payload->>'$.row_count' AS BIGINT) AS row_count,
    payload->>'$.reason' AS reason, position
FROM events
WHERE event_type = 'QueryRun.Recorded'
    AND recorded_at >= now() - to_days(CAST($days AS INTEGER))
ORDER BY position DESC""",
    ),
}


def load_saved_queries(org: World, officer: str = "officer") -> None:
    """The saved queries above, saved by the demo's compliance officer."""
    queries = ForensicQueries(org.app)
    with org.acting(officer):
        for name, definition in SAVED_QUERIES.items():
            queries.save_query(name, definition, SqlCheck())
