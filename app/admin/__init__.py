"""Administration: delegated roles per unit, the admin REST API and console, bulk import, reorganisation."""
