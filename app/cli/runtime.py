"""Running the broker: serve, demo, migrate, worker."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.settings import Settings

from app.cli.common import load_settings, open_broker, remember_issuer

Add = Callable[..., argparse.ArgumentParser]


def cmd_migrate(args: argparse.Namespace) -> None:
    from app.broker import Broker
    from app.migrate import upgrade

    settings = load_settings()
    upgrade(settings.effective_database_url)
    broker = Broker(settings)
    broker.keys.ensure()
    print(f"database migrated: {broker.db.engine.url.render_as_string(hide_password=True)}")


def _issuer_for(settings: Settings, host: str, port: int) -> str:
    if settings.issuer:
        return settings.issuer
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    return f"http://{shown}:{port}"


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn
    import uvicorn.config

    settings = load_settings()
    issuer = _issuer_for(settings, args.host, args.port)
    os.environ["SSO_ISSUER"] = issuer
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its counters here, so /metrics on any of them sums all of them.
        import tempfile

        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sso-broker-metrics-")
    os.environ["SSO_LOG_LEVEL"] = args.log_level
    remember_issuer(open_broker(issuer))  # fail here, in plain words, rather than inside a worker; the CLI learns it
    print(f"sso-broker serving {issuer} (discovery: {issuer}/.well-known/openid-configuration)", flush=True)
    # Our middleware writes the access log (with request ids); in JSON mode uvicorn's own lines go through
    # the same root handler instead of its coloured formatter.
    uvicorn.run("app.main:app_from_env", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level, proxy_headers=False, access_log=False,
                log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG)


def cmd_demo(args: argparse.Namespace) -> None:
    import uvicorn

    from app.applications.clients import ClientService
    from app.broker import Broker
    from app.demo import DEMO_ADMIN, DEMO_CLIENT_ID, DEMO_PASSWORD, OFFICIALS, install_demo
    from app.main import create_app
    from app.migrate import upgrade

    settings = load_settings()
    issuer = _issuer_for(settings, args.host, args.port)
    upgrade(settings.effective_database_url)
    broker = Broker(settings, issuer=issuer)
    broker.keys.ensure()
    remember_issuer(broker)
    clients = ClientService(broker.clients)
    with broker.db.session() as s:
        secret = install_demo(s, clients, issuer)
    client_file = Path(settings.data_dir) / "demo-client.json"
    if secret:
        client_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(client_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"client_id": DEMO_CLIENT_ID, "client_secret": secret,
                       "redirect_uri": f"{issuer}/demo-app/callback"}, fh)
    elif client_file.exists():
        saved = json.loads(client_file.read_text())
        saved["redirect_uri"] = f"{issuer}/demo-app/callback"
        client_file.write_text(json.dumps(saved))
    print(f"""
sso-broker demo is running at {issuer}
  open      {issuer}/demo-app   (a demo relying party: click "Đăng nhập · Sign in")
  log in as {OFFICIALS[0].username} / {DEMO_PASSWORD}   (also: {', '.join(o.username for o in OFFICIALS[1:-1])})
  console   {issuer}/admin as {DEMO_ADMIN} / {DEMO_PASSWORD} (province admin; sets up an authenticator app at
            the first sign-in: any TOTP app, e.g. on a phone)
  discovery {issuer}/.well-known/openid-configuration
""", flush=True)
    app = create_app(settings, issuer=issuer)
    from app.demo_rp import router

    app.include_router(router)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


def cmd_worker(args: argparse.Namespace) -> None:
    """Directory sync on an interval and the provisioning queue, until stopped (or one pass with --once)."""
    from app.worker import Worker

    worker = Worker.of(open_broker())
    if args.once:
        worker.once()
    else:
        worker.run(args.interval)


def register(sub: Any, add: Add) -> None:
    for name, func, help_ in (("serve", cmd_serve, "run the broker"),
                              ("demo", cmd_demo, "install demo officials and a demo app, then run the broker")):
        p = add(sub, name, func, help_)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
        if name == "serve":
            p.add_argument("--workers", type=int, default=1)
    add(sub, "migrate", cmd_migrate, "bring the database schema up to date")

    p = add(sub, "worker", cmd_worker, "background work: directory sync on an interval, provisioning queue")
    p.add_argument("--interval", type=float, default=30.0,
                   help="seconds between incremental directory passes (each also finds deleted entries)")
    p.add_argument("--once", action="store_true")
