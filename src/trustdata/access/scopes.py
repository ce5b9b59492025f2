"""What an API client may read: its scopes, and the academies and hubs they cover.

Scopes, as a client is given them (``trustdata api-client create --scope ...``):

- ``trust``: aggregates of the trust, every hub and every academy;
- ``hub:<hub id>``: aggregates of that hub and of its academies;
- ``academy:<academy id>``: aggregates of that academy;
- ``pupils``: pupil-level records, in the academies the other scopes cover (alone it
  covers nothing, so it is refused alone).

Hub membership is read from the trust config when a request is served, so a client scoped to
a hub sees an academy that joins the hub later, and stops seeing one that leaves it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from trustdata.config.trust import TrustConfig

SCOPE_FORMS = "trust, hub:<hub id>, academy:<academy id> or pupils"
_SCOPE = re.compile(r"^(?:(trust|pupils)|(hub|academy):([a-z][a-z0-9_]{1,40}))$")


class ScopeError(ValueError):
    """A scope that is malformed or names a hub or academy the trust does not have."""


def parse_scopes(texts: Iterable[str], config: TrustConfig) -> tuple[str, ...]:
    """The scopes, checked against the trust config, sorted and without repeats."""
    scopes = sorted({text.strip() for text in texts})
    if not scopes:
        raise ScopeError(f"give the client at least one scope: {SCOPE_FORMS}")
    hubs = {hub.id for hub in config.hubs}
    academies = {academy.id for academy in config.academies}
    for scope in scopes:
        found = _SCOPE.match(scope)
        if found is None:
            raise ScopeError(f"scope {scope!r} is not one of: {SCOPE_FORMS}")
        kind, unit_id = found.group(2), found.group(3)
        known = {"hub": hubs, "academy": academies}.get(kind or "", set())
        if kind is not None and unit_id not in known:
            raise ScopeError(
                f"scope {scope!r}: the trust has no {kind} {unit_id!r} "
                f"(known: {', '.join(sorted(known)) or 'none'})"
            )
    if scopes == ["pupils"]:
        raise ScopeError(
            "scope 'pupils' covers the academies of the client's other scopes: add trust, "
            "hub:<hub id> or academy:<academy id>"
        )
    return tuple(scopes)


@dataclass(frozen=True)
class Access:
    """The units one client may read, resolved against the trust config."""

    client_id: str
    scopes: tuple[str, ...]
    trust: bool
    hubs: frozenset[str]
    academies: frozenset[str]
    pupils: bool

    @classmethod
    def resolve(cls, client_id: str, scopes: Iterable[str], config: TrustConfig) -> Access:
        """The access the scopes give today; scopes naming a removed unit give nothing."""
        held = tuple(scopes)
        trust = "trust" in held
        hubs = {s.removeprefix("hub:") for s in held if s.startswith("hub:")}
        named = {s.removeprefix("academy:") for s in held if s.startswith("academy:")}
        academies = {a.id for a in config.academies if trust or a.hub in hubs or a.id in named}
        if trust:
            hubs = {hub.id for hub in config.hubs}
        return cls(client_id, held, trust, frozenset(hubs), frozenset(academies), "pupils" in held)

    def sees(self, level: str, unit_id: str) -> bool:
        """True when the client may read aggregates of this trust, hub or academy."""
        if self.trust:
            return True  # every unit of the warehouse, whatever this process's config says
        if level == "hub":
            return unit_id in self.hubs
        return level == "academy" and unit_id in self.academies

    def sees_pupils(self, academy_id: str) -> bool:
        """True when the client may read pupil-level records of this academy."""
        return self.pupils and self.sees("academy", academy_id)
