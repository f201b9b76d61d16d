"""Care settings as SimPy processes: one module per setting (GP, acute, community).

Each service takes a day's requests, serves what capacity allows and carries the rest as
a backlog; its process is a small generator that waits one day at a time and records
what happened through the engine's ledger. No printing, no KPI maths inside.
"""
