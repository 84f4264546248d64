"""``python -m check_mapi.emulator``: run the emulator, or print the example configuration.

Exit 0 on SIGINT/SIGTERM, 2 with a one-line message for bad arguments, an unreadable or
invalid configuration, or a port that cannot be bound.
"""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
from collections.abc import Sequence
from types import FrameType

from ..errors import ConfigError
from . import config as config_module
from .example import example_config
from .server import Emulator


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m check_mapi.emulator",
        description="Exchange-like Autodiscover and MAPI over HTTP server for tests and demos.")
    parser.add_argument("--listen", type=_listen, default=("127.0.0.1", 8443),
                        metavar="HOST:PORT", help="address to listen on (default 127.0.0.1:8443)")
    parser.add_argument("--config", metavar="FILE",
                        help="TOML configuration (default: the example configuration)")
    parser.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    parser.add_argument("--example-config", action="store_true",
                        help="print a complete, commented example configuration and exit")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.example_config:
        sys.stdout.write(example_config())
        return 0
    if args.tls_key and not args.tls_cert:
        sys.stderr.write("emulator: --tls-key needs --tls-cert\n")
        return 2
    try:
        config = (config_module.load(args.config) if args.config
                  else config_module.loads(example_config()))
        host, port = args.listen
        emulator = Emulator(config, host=host, port=port, tls_cert=args.tls_cert,
                            tls_key=args.tls_key).start()
    except ConfigError as err:
        sys.stderr.write(f"emulator: {err}\n")
        return 2
    except (OSError, ssl.SSLError, ValueError) as err:
        sys.stderr.write(f"emulator: {err}\n")
        return 2

    def stop(signum: int, frame: FrameType | None) -> None:
        emulator.app.stop_event.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sys.stdout.write(f"check_mapi emulator listening on {emulator.url}\n"
                     f"Autodiscover: {emulator.autodiscover_url}\n")
    for mailbox in config.mailboxes:
        sys.stdout.write(f"  {mailbox.smtp}: {emulator.mapi_url(mailbox.smtp)}\n")
    sys.stdout.flush()
    emulator.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
