"""Who can be reached on a channel: a contact for it, consent, no unsubscription.

A customer is left out of a list sent on ``channel`` for the first reason that applies:

``no_contact``
    no contacts row, or no e-mail address (e-mail) / valid phone (SMS, call);
``unsubscribed``
    the channel's unsubscribe flag, or the all-channels one, is 1;
``no_consent``
    the channel's consent flag is not 1 (0, or unknown). A channel whose consent is not
    recorded reaches nobody, unless the contacts state ``assume_consent`` for it (a choice
    the report names).

The reasons are computed by the engine over the list's rows (:func:`reason_sql`); the lists
and the report get counts per reason, never the customers.
"""
from __future__ import annotations

from typing import Iterable

__all__ = ["CHANNEL_CONTACT", "REASONS", "reason_sql", "assumed_channels", "check_channel"]

#: Channel -> the contact column it needs.
CHANNEL_CONTACT = {"email": "email", "sms": "phone", "call": "phone"}
REASONS = ("no_contact", "unsubscribed", "no_consent")


def check_channel(channel: str) -> str:
    if channel not in CHANNEL_CONTACT:
        raise ValueError(f"unknown channel {channel!r}; use one of {sorted(CHANNEL_CONTACT)}")
    return channel


def assumed_channels(contacts) -> set[str]:
    """Channels the contacts declare consent as not needed for (``contacts.assume_consent``)."""
    return set(getattr(contacts, "attrs", {}).get("assume_consent", ()) or ())


def reason_sql(channel: str, have: Iterable[str], assume: Iterable[str] = (), alias: str = "c") -> str:
    """SQL giving the reason a row (contacts joined as ``alias``, NULL when absent) cannot be
    reached on ``channel``, or NULL when it can."""
    check_channel(channel)
    have = set(have)
    contact = CHANNEL_CONTACT[channel]
    no_contact = f"{alias}.customer_id IS NULL" + (f' OR {alias}."{contact}" IS NULL' if contact in have else " OR TRUE")
    unsub = [f'coalesce(CAST({alias}."{c}" AS INTEGER), 0) = 1' for c in (f"{channel}_unsubscribed", "unsubscribed")
             if c in have]
    consent = f"{channel}_consent"
    if channel in set(assume):
        no_consent = "FALSE"
    elif consent in have:
        no_consent = f'coalesce(CAST({alias}."{consent}" AS INTEGER), 0) <> 1'
    else:
        no_consent = "TRUE"
    return (f"CASE WHEN {no_contact} THEN 'no_contact' "
            + (f"WHEN {' OR '.join(unsub)} THEN 'unsubscribed' " if unsub else "")
            + f"WHEN {no_consent} THEN 'no_consent' END")
