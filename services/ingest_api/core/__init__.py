"""Configuration and database session of the API."""
