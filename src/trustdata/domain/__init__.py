"""Domain facts: canonical records, the national attendance code table, UPNs, the calendar."""
