"""Resolve an academy's credential reference to the secret, at run time only."""

from __future__ import annotations

import os
from collections.abc import Callable

from trustdata.config.trust import Credential

#: Looks up an Airflow connection's secret by id; injected by the DAGs (core has no Airflow).
ConnectionLookup = Callable[[str], str]


class CredentialError(Exception):
    """The credential an academy names cannot be found; the message says how to provide it."""


def resolve_secret(
    credential: Credential, academy_id: str, connection_lookup: ConnectionLookup | None = None
) -> str:
    """Return the secret the credential names, or raise CredentialError saying how to set it."""
    if credential.env is not None:
        secret = os.environ.get(credential.env)
        if not secret:
            raise CredentialError(
                f"academy {academy_id}: environment variable {credential.env} is not set "
                "(it must hold the MIS token)"
            )
        return secret
    assert credential.airflow_connection is not None
    if connection_lookup is None:
        raise CredentialError(
            f"academy {academy_id}: credential is Airflow connection "
            f"{credential.airflow_connection!r}, which is only readable inside Airflow"
        )
    return connection_lookup(credential.airflow_connection)
