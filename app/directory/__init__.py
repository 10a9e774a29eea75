"""The central directory (OpenLDAP or Active Directory) as the source of officials: login and sync."""
