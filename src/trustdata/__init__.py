"""The trustdata package: MIS data of a multi-academy trust, gathered into one warehouse."""
