"""An official's own account: the portal, password change, recovery (with the mail and SMS that carry links)."""
