"""Second factors (TOTP, WebAuthn passkeys, recovery codes), the MFA policy, and account recovery."""
