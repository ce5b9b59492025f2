"""Settings from the environment, and the trust/hub/academy configuration."""
