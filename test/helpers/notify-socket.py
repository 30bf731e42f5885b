# Test-only: a Unix datagram socket playing systemd's NOTIFY_SOCKET; prints each message.
import socket, sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("listening", flush=True)
while True:
    data = s.recv(4096)
    print(data.decode().replace("\n", "|"), flush=True)
