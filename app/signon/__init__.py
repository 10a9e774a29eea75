"""The protocol-neutral sign-on: password, second factor, session, resuming the parked request. Protocol front
ends (OIDC today; CAS, SAML and the gateway next) ask it for an authenticated official."""
