"""Forward authentication for applications that speak no sign-in protocol (nginx `auth_request`, Traefik
ForwardAuth, Caddy `forward_auth`): which app a request is for, and the identity headers it is given. No web
framework and no database inside."""
