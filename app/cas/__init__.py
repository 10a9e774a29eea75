"""The CAS protocol (Apereo CAS Protocol 3.0) as small classes: tickets, the service registry's matching
rules, validation and proxy endpoints, the answers in XML, JSON and CAS 1.0 text. No web framework and no
database inside: storage behind `app/cas/storage.py`, implemented by `app/store/cas_store.py`."""
