"""Upstream identity providers: the broker as an OpenID Connect relying party (VNeID, WSO2, Entra ID, Google)."""
