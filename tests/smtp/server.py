"""A real SMTP server for the e-mail channel's tests (tests/src/smtp.rs starts it).

    server.py PORT DIR

Listens on 127.0.0.1:PORT (0: a free port) and prints the port as the first line of stdout
once it accepts connections. Recipients decide what happens, by the start of their local part:

- reject...  RCPT is refused with 550 5.1.1 (permanent);
- later...   RCPT is refused with 451 4.3.0 (transient);
- stall...   the message is taken in but never answered (the client's timeout ends it);
- vanish...  the message is stored, then the connection is closed without an answer;
- otherwise  the message is stored and accepted with 250.

Each stored message is DIR/<n>.eml (n = 1, 2, ...), the raw bytes as received, written
under a temporary name and renamed before the answer, so a reader never sees half of one.
Runs until stdin closes (the test process ended) or it is killed.
"""

import asyncio
import itertools
import os
import sys
import threading

from aiosmtpd.controller import Controller


def local_part(address):
    return address.rsplit("@", 1)[0].lower()


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.numbers = itertools.count(1)
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = local_part(address)
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: no such mailbox here" % address
        if local.startswith("later"):
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def store(self, content):
        with self.lock:
            number = next(self.numbers)
        path = os.path.join(self.directory, "%d.eml" % number)
        with open(path + ".part", "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.rename(path + ".part", path)

    async def handle_DATA(self, server, session, envelope):
        locals_ = [local_part(a) for a in envelope.rcpt_tos]
        if any(l.startswith("stall") for l in locals_):
            await asyncio.sleep(3600)
        self.store(envelope.original_content)
        if any(l.startswith("vanish") for l in locals_):
            server.transport.close()
        return "250 2.0.0 OK: queued"


class FreePortController(Controller):
    """A Controller that may bind port 0: it learns the port before its first connection."""

    def _trigger_server(self):
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = FreePortController(
        Handler(directory),
        hostname="127.0.0.1",
        port=port,
        server_hostname="smtp.enkaku.test",
        ready_timeout=30,
    )
    controller.start()
    print(controller.port, flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
