"""Care settings as SimPy processes: one module per setting, one registry, one vocabulary.

Every service implements ``protocol.Service`` (start of year, one day, end of year returning
a ``ServiceYear``, carrying people across years) and is listed once in ``registry.SERVICES``,
whose order is the within-day order: general practice (``gp``), the hospital's A&E and beds
(``acute``), day cases and outpatients (``ambulatory``), community services
(``community``). Service names come from ``names``. Each service takes a day's requests,
serves what capacity allows and carries the rest as a backlog, recording what happened
through the world's ledger. No printing, no KPI maths inside.
"""
