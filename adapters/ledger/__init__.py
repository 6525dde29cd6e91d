"""The audit ledger: the library's recorders, extended with a hash chain and signed checkpoints.

`chain` defines what is hashed, `checkpoints` what is signed, `writer` keeps both
in step with each insert, and `sqlite` / `postgres` plug that into the
eventsourcing recorders of each store.
"""
