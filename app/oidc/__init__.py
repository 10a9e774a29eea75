"""The OpenID Connect protocol on Authlib's server core: no database, no web framework in here.

Storage sits behind `OIDCStorage`; the web layer hands in framework-neutral `HttpRequest`s and gets
`ProtocolResponse`s back.
"""
