"""The sandbox MIS: a Wonde-shaped HTTP API serving deterministic synthetic data for a demo trust."""
