"""sso-broker: a single-sign-on identity broker for provincial government."""

__version__ = "0.1.0"
