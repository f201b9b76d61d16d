"""One vocabulary of service names, shared by demand, capacity, the ledger and levers.

Three kinds of name, each a fixed list here; a name not on its list is an error
(``UnknownServiceError``), never a silent no-op:

* **Activities**: the ``service`` column of the activity table, each with its setting and
  payer (``ACTIVITIES``). Services record activity under these names
  (``Ledger.count``, ``Ledger.count_coded``).
* **Waiting lists and capacities**: the ``service`` column of the waits and capacity
  tables (``WAITING_LISTS``, ``CAPACITIES``). Each is named after the activity it delivers
  (``gp_appointment``, ``bed_day``, ``outpatient_attendance``, ...), or, where one activity
  has several lists or capacities, after the activity and its kind (``elective_ordinary``
  and ``elective_daycase`` both deliver ``elective_admission``; ``social_care_assessment``
  assesses ``social_care_new_request``). Capacity names are what
  ``World.capacity_today`` and a lever's ``capacity_multiplier`` see.
* **Demand streams**: the register's ``demand.<stream>`` keys and the keys of
  ``World.events`` (``DEMAND_STREAMS``). Each feeds one activity; the stream name is what
  a lever's ``rate_multiplier`` sees.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from model.errors import CarescaleError


@dataclass(frozen=True)
class Activity:
    """Where an activity happens and who pays for it."""

    setting: str
    payer: str


_PRIMARY = Activity("primary_care", "primary_care")
_ACUTE = Activity("acute", "nhs_acute")
_COMMUNITY = Activity("community", "community_health")
_SOCIAL = Activity("social_care", "la_social_care")
#: the costs of the levers themselves (staff, voluntary-sector activity, administration)
_LEVER_PRIMARY = Activity("lever", "primary_care")

#: activity-table service name -> setting and payer
ACTIVITIES: Mapping[str, Activity] = {
    "gp_appointment": _PRIMARY,
    "gp_appointment_dna": _PRIMARY,
    "gp_request_abandoned": _PRIMARY,
    "gp_spill_to_ae": _PRIMARY,
    "gp_booking_attempt": _PRIMARY,
    "gp_booking_attempt_unsuccessful": _PRIMARY,
    "ae_attendance": _ACUTE,
    "ae_to_admission": _ACUTE,
    "emergency_admission": _ACUTE,
    "elective_admission": _ACUTE,
    "outpatient_attendance": _ACUTE,
    "bed_day": _ACUTE,
    "overnight_stay": _ACUTE,
    "maternity_delivery": _ACUTE,
    "community_nursing_contact": _COMMUNITY,
    "community_mental_health_contact": _COMMUNITY,
    "mental_health_people_in_contact": _COMMUNITY,
    "social_care_new_request": _SOCIAL,
    "social_care_long_term_support": _SOCIAL,
    "social_care_support_day": _SOCIAL,
    "social_care_support_started": _SOCIAL,
    "social_care_support_ended": _SOCIAL,
    # levers (model/interventions): their own costs have the setting "lever"
    "link_worker_session": _LEVER_PRIMARY,
    "social_prescribing_activity": Activity("lever", "voluntary_sector"),
    "phb_admin": Activity("lever", "community_health"),
    "tailored_access_platform": _LEVER_PRIMARY,
    "tailored_access_contact": _LEVER_PRIMARY,
    "health_coaching_session": _LEVER_PRIMARY,
    "care_coordination_contact": _LEVER_PRIMARY,
    # what personal health budget holders buy instead of commissioned services
    "phb_personal_purchase": Activity("community", "person"),
}

#: activities costed by the lever that records them (``Ledger.lever_cost``), not by the
#: register's unit costs: every "lever" activity and the purchases made with a budget
EXPLICITLY_COSTED = frozenset(
    {name for name, a in ACTIVITIES.items() if a.setting == "lever"} | {"phb_personal_purchase"}
)

#: waits-table service name (a waiting list) -> the activity it delivers
WAITING_LISTS: Mapping[str, str] = {
    "gp_appointment": "gp_appointment",
    "emergency_admission": "emergency_admission",
    "elective_ordinary": "elective_admission",
    "elective_daycase": "elective_admission",
    "outpatient_first": "outpatient_attendance",
    "outpatient_follow_up": "outpatient_attendance",
    "community_nursing_contact": "community_nursing_contact",
    "community_mental_health_contact": "community_mental_health_contact",
    "social_care_assessment": "social_care_new_request",
}

#: capacity-table service name (a daily capacity; the name levers' capacity multipliers
#: see) -> the activity it delivers
CAPACITIES: Mapping[str, str] = {
    "gp_appointment": "gp_appointment",
    "bed_day": "bed_day",
    "elective_ordinary": "elective_admission",
    "elective_daycase": "elective_admission",
    "outpatient_first": "outpatient_attendance",
    "outpatient_follow_up": "outpatient_attendance",
    "community_nursing_contact": "community_nursing_contact",
    "community_mental_health_contact": "community_mental_health_contact",
    "social_care_assessment": "social_care_new_request",
}

#: demand stream (register ``demand.<stream>``; the name levers' rate multipliers see) ->
#: the activity it feeds, in the order the engine draws them
DEMAND_STREAMS: Mapping[str, str] = {
    "gp": "gp_appointment",
    "ae": "ae_attendance",
    "emergency_direct": "emergency_admission",
    "elective_ordinary": "elective_admission",
    "elective_daycase": "elective_admission",
    "outpatient": "outpatient_attendance",
    "community_nursing": "community_nursing_contact",
    "mental_health": "community_mental_health_contact",
    "social_care_request": "social_care_new_request",
}


class UnknownServiceError(CarescaleError, LookupError):
    """A service name that is not in its vocabulary (a typo, or a name never declared)."""


def _unknown(kind: str, name: str, known: Iterable[str]) -> UnknownServiceError:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=2, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownServiceError(
        f"unknown {kind} name {name!r}{hint} (declared in model/services/names.py)"
    )


def activity(name: str) -> Activity:
    """Setting and payer of an activity-table service name."""
    try:
        return ACTIVITIES[name]
    except KeyError:
        raise _unknown("activity", name, ACTIVITIES) from None


def _check(kind: str, name: str, known: Mapping[str, object]) -> str:
    if name not in known:
        raise _unknown(kind, name, known)
    return name


def check_activity(name: str) -> str:
    """``name`` if it is an activity-table service name; raises ``UnknownServiceError``."""
    return _check("activity", name, ACTIVITIES)


def check_waiting_list(name: str) -> str:
    """``name`` if it is a waits-table service name; raises ``UnknownServiceError``."""
    return _check("waiting-list", name, WAITING_LISTS)


def check_capacity(name: str) -> str:
    """``name`` if it is a capacity name; raises ``UnknownServiceError``."""
    return _check("capacity", name, CAPACITIES)


def check_stream(name: str) -> str:
    """``name`` if it is a demand stream; raises ``UnknownServiceError``."""
    return _check("demand stream", name, DEMAND_STREAMS)


def feeds(stream: str) -> str:
    """The activity a demand stream feeds (e.g. ``"gp"`` -> ``"gp_appointment"``)."""
    return DEMAND_STREAMS[check_stream(stream)]
