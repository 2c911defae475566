"""``framework ui``: where the web app listens, and starting it.

The app starts training runs and reads files on this machine, so it listens on the loopback
interface unless told otherwise in so many words: ``--host`` on the command line (a person
typing 0.0.0.0 means it) or ``--share`` (Gradio's tunnel, still bound to loopback here).
A public address that arrives any other way (``GRADIO_SERVER_NAME`` left in the environment)
is refused, saying why and how to mean it.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
from pathlib import Path

from framework.errors import ConfigError

LOOPBACK = "127.0.0.1"


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and localhost listen only to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def choose_host(cli_host: str | None, environ: dict[str, str] | None = None) -> tuple[str, str | None]:
    """(address to bind, a warning to print or None)."""
    environ = dict(os.environ) if environ is None else environ
    if cli_host:
        if is_loopback(cli_host):
            return cli_host, None
        return cli_host, (f"listening on {cli_host}: anyone who reaches this address can start runs and read "
                          "files on this machine")
    inherited = environ.get("GRADIO_SERVER_NAME")
    if inherited and not is_loopback(inherited):
        raise ConfigError(f"GRADIO_SERVER_NAME={inherited} would make the UI reachable from other machines",
                          where="environment",
                          hint=f"the UI starts runs and reads files, so say it on the command line: "
                               f"framework ui --host {inherited} (or unset GRADIO_SERVER_NAME)")
    return LOOPBACK, None


def check_port(host: str, port: int) -> None:
    """A port already taken is a one-line error before Gradio starts (it would print a traceback)."""
    if not 0 < port < 65536:
        raise ConfigError(f"port {port} is out of range", where="--port", hint="pass a port between 1 and 65535")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host if host != "localhost" else LOOPBACK, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror or exc})", where="--port",
                              hint="pick another port, e.g. --port 7861") from None


def serve(args: argparse.Namespace) -> int:
    """Build the app and block serving it until Ctrl-C (runs it started keep going)."""
    from framework.extras import require

    require("ui", asked_by="framework ui")
    host, warning = choose_host(args.bind_host)
    check_port(host, args.port)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves this machine unasked
    from framework.ui.app import build_app, launch_options

    app = build_app(args.host, Path(args.runs))
    if warning:
        print(f"warning: {warning}", flush=True)
    print(f"framework ui: http://{host if ':' not in host else f'[{host}]'}:{args.port}/  "
          f"(runs under {Path(args.runs).resolve()}; Ctrl-C stops the UI, not the runs)", flush=True)
    app.launch(server_name=host, server_port=args.port, share=bool(args.share), inbrowser=False, quiet=True,
               show_error=False, **launch_options())
    return 0
