"""The registry of applications: OpenID Connect clients today (CAS services and SAML providers join it)."""
