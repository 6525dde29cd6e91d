"""`strongroom audit report`: the monthly compliance report and custom reports.

Client commands: they talk to the server through the client SDK as the logged-in
officer (see api/cli_people.py), so every question asked is recorded with who asked.
"""

from __future__ import annotations

from api.cli_server import audit_cli  # noqa: F401  (the commands join `strongroom audit`)
