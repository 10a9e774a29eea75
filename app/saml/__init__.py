"""A SAML 2.0 identity provider (Web Browser SSO profile, Single Logout) as small pieces: hardened XML,
bindings, metadata, the messages and the server that checks requests and builds signed responses. No web
framework and no database inside: storage behind `app/saml/storage.py`, implemented by
`app/store/saml_store.py`.

Library: signxml (XML-DSig on lxml and `cryptography`, pure Python, maintained) rather than pysaml2, whose
signatures go through the xmlsec1 binary and whose configuration model would sit beside ours. signxml returns
only what the signature covers, and this package reads requests from that alone, which is what defeats
signature wrapping."""
