"""``python dns_sink.py COMMAND...``: hold a UDP socket on 127.0.0.1:53 that never answers,
run COMMAND, exit as it did. Used inside a private network and mount namespace whose
/etc/resolv.conf names 127.0.0.1 (see test_dns.py): every DNS query of COMMAND goes
unanswered. Standard library only."""

from __future__ import annotations

import socket
import subprocess
import sys


def main(command: list[str]) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 53))  # bound before COMMAND starts; never read
        return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
