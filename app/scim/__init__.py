"""Inbound SCIM 2.0 (RFC 7643/7644): a personnel system pushes officials and groups into one unit subtree."""
