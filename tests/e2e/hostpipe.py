"""One guest connection to a host-loopback port: qemu's user-mode `guestfwd=...-cmd:` runs this
per connection, with the guest's stream on stdin/stdout. Standard library only, run with -S
(it starts for every connection)."""

import os
import socket
import sys
import threading


def main() -> None:
    up = socket.create_connection(("127.0.0.1", int(sys.argv[1])))

    def down() -> None:
        while data := os.read(0, 65536):
            up.sendall(data)
        up.shutdown(socket.SHUT_WR)

    threading.Thread(target=down, daemon=True).start()
    while data := up.recv(65536):
        os.write(1, data)


if __name__ == "__main__":
    try:
        main()
    except OSError:
        pass
