"""The audit trail: append-only, hash-chained, searchable and exportable."""
