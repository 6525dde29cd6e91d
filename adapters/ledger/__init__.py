"""The audit ledger: the library's recorders, extended with a hash chain, signed checkpoints
and signed snapshots.

`chain` defines what is hashed (and the snapshot signature's layout), `schema` the
tables of both stores, `checkpoints` what is signed, `writer` keeps the chain and
checkpoints in step with each insert, `snapshots` signs snapshots and checks them
on load, `stored` reads back values without trusting them, and `sqlite` /
`postgres` plug all that into the eventsourcing recorders of each store.
"""
