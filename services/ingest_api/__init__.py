"""The read API over the warehouse marts (and, later, the intake for MIS events)."""
