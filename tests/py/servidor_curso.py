"""A stand-in for the course's own file server and the ones students write in the lab,
for cliente's tests: one thread per client, `listar` and `descargar` answered, every
other operation met with silence (no reply at all, the connection stays open), or with
`--responde`, with an error reply (`operación desconocida: X`), as some students'
servers and examples/servidor_minimo.rs do.

Replies are `Mensaje(data=..., estado=...)` pickled from a class defined here, so they
carry `__main__.Mensaje` and `operacion=None`, as those servers' replies do. `descargar`
takes the bare file name and answers the whole file in one frame, or `estado="error"`
with no data when the name is not in the folder.

    python3 servidor_curso.py CARPETA [--responde]

listens on 127.0.0.1, on a free port that it prints as `puerto N`, until stdin ends.
"""

import os
import pickle
import socket
import sys
import threading


class Mensaje:
    def __init__(self, operacion=None, data=None, estado=None):
        self.operacion = operacion
        self.data = data
        self.estado = estado


def read_exactly(conn, n):
    """n bytes, or None when the client left first."""
    got = bytearray()
    while len(got) < n:
        piece = conn.recv(min(n - len(got), 65536))
        if not piece:
            return None
        got.extend(piece)
    return bytes(got)


def send(conn, mensaje):
    payload = pickle.dumps(mensaje)
    conn.sendall(len(payload).to_bytes(4, "big") + payload)


def serve(conn, folder, answers_unknown):
    with conn:
        while True:
            head = read_exactly(conn, 4)
            if head is None:
                return
            payload = read_exactly(conn, int.from_bytes(head, "big"))
            if payload is None:
                return
            try:
                request = pickle.loads(payload)
            except Exception:
                return
            # The course's client sends an instance; a dict is read the same way here.
            get = request.get if isinstance(request, dict) else lambda k: getattr(request, k, None)
            operacion, data = get("operacion"), get("data")
            names = sorted(os.listdir(folder))
            if operacion == "listar":
                send(conn, Mensaje(data=names, estado="ok"))
            elif operacion == "descargar":
                if isinstance(data, str) and data in names:
                    with open(os.path.join(folder, data), "rb") as f:
                        send(conn, Mensaje(data=f.read(), estado="ok"))
                else:
                    send(conn, Mensaje(estado="error"))
            elif answers_unknown:
                send(conn, Mensaje(data=f"operación desconocida: {operacion}", estado="error"))
            # Anything else: no answer, as the course's server does.


def main():
    if len(sys.argv) < 2:
        sys.exit("uso: servidor_curso.py CARPETA [--responde]")
    folder = sys.argv[1]
    answers_unknown = "--responde" in sys.argv[2:]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    print(f"puerto {listener.getsockname()[1]}", flush=True)

    def accept():
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn, folder, answers_unknown), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


if __name__ == "__main__":
    main()
