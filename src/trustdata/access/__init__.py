"""Who may read what through the API: clients, keys, tokens, scopes and the access log."""
