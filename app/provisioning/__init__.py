"""The provisioning engine: from identity changes (the outbox) to accounts in every target system."""
