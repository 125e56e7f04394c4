"""What is Windows-specific, checked against servidor.exe under wine.

- A file open for a download in progress can still be replaced (subir reemplazar),
  renamed and deleted: each gets a reply (ok, or a clear error), never a crash, and the
  download already under way finishes with the bytes it started with.
- Names that differ only in case are one name here: neither a new upload nor a
  `reemplazar` lands on the other spelling.
- Names Windows reserves are refused.
Run: python3 windows_semantics.py PORT SERVED_DIR. Exit code 0 means all passed.
"""
import os
import pickle
import socket
import sys


class Mensaje:
    def __init__(self, operacion=None, data=None, estado=None):
        self.operacion = operacion
        self.data = data
        self.estado = estado


class Conexion:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=60)

    def leer(self, n):
        datos = bytearray()
        while len(datos) < n:
            parte = self.s.recv(min(1 << 16, n - len(datos)))
            if not parte:
                raise ConnectionError("the server closed the connection")
            datos += parte
        return bytes(datos)

    def enviar(self, operacion, data=None):
        datos = pickle.dumps(Mensaje(operacion, data))
        self.s.sendall(len(datos).to_bytes(4, "big") + datos)

    def recibir(self):
        return pickle.loads(self.leer(int.from_bytes(self.leer(4), "big")))

    def pedir(self, operacion, data=None):
        self.enviar(operacion, data)
        return self.recibir()


def respuesta_clara(r, que):
    assert r.estado in ("ok", "error"), (que, r.estado)
    if r.estado == "error":
        assert isinstance(r.data, str) and r.data, (que, r.data)
    print(que, "->", r.estado, r.data if r.estado == "error" else "")


def descarga_a_medias(port, nombre):
    """Starts a download and reads only its first bytes: the server holds the file open."""
    c = Conexion(port)
    c.enviar("descargar", nombre)
    largo = int.from_bytes(c.leer(4), "big")
    inicio = c.leer(1024)
    return c, largo, inicio


def main():
    port, servida = int(sys.argv[1]), sys.argv[2]
    original = {}
    for nombre in ["abierto1.bin", "abierto2.bin", "abierto3.bin"]:
        original[nombre] = os.urandom(8 * 1024 * 1024)
        with open(os.path.join(servida, nombre), "wb") as f:
            f.write(original[nombre])
    otro = Conexion(port)

    a, largo_a, inicio_a = descarga_a_medias(port, "abierto1.bin")
    r = otro.pedir("subir", {"nombre": "abierto1.bin", "contenido": b"nuevo", "reemplazar": True})
    respuesta_clara(r, "subir reemplazar de un archivo abierto")
    b, largo_b, inicio_b = descarga_a_medias(port, "abierto2.bin")
    r = otro.pedir("renombrar", {"nombre": "abierto2.bin", "nuevo": "movido.bin"})
    respuesta_clara(r, "renombrar un archivo abierto")
    c, largo_c, inicio_c = descarga_a_medias(port, "abierto3.bin")
    r = otro.pedir("borrar", "abierto3.bin")
    respuesta_clara(r, "borrar un archivo abierto")

    # The downloads under way finish, each with the bytes it started with.
    for con, largo, inicio, nombre in [(a, largo_a, inicio_a, "abierto1.bin"),
                                       (b, largo_b, inicio_b, "abierto2.bin"),
                                       (c, largo_c, inicio_c, "abierto3.bin")]:
        r = pickle.loads(inicio + con.leer(largo - len(inicio)))
        assert r.estado == "ok" and r.data == original[nombre], (nombre, r.estado)
        print("descarga en curso completa:", nombre)
    assert otro.pedir("listar").estado == "ok"

    with open(os.path.join(servida, "poema.txt"), "rb") as f:
        poema = f.read()
    r = otro.pedir("subir", {"nombre": "Poema.txt", "contenido": b"otro"})
    assert r.estado == "error" and "existe" in r.data, (r.estado, r.data)
    print("otra forma de escribir un nombre tomado ->", r.data)
    r = otro.pedir("subir", {"nombre": "POEMA.TXT", "contenido": b"otro", "reemplazar": True})
    assert r.estado == "error" and "mayúsculas" in r.data, (r.estado, r.data)
    print("reemplazar con otra forma de escribirlo ->", r.data)
    with open(os.path.join(servida, "poema.txt"), "rb") as f:
        assert f.read() == poema, "poema.txt is untouched"
    assert "Poema.txt" not in os.listdir(servida) and "POEMA.TXT" not in os.listdir(servida)

    for malo in ["con.txt", "NUL", "com1.log", "lpt9", "a:b.txt", "que?.txt", "fin.", "fin "]:
        r = otro.pedir("subir", {"nombre": malo, "contenido": b"x"})
        assert r.estado == "error", (malo, r.estado)
    print("nombres reservados de Windows rechazados")
    print("todo ok")


if __name__ == "__main__":
    main()
