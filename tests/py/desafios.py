"""The course's challenges from Python: subir, subir_parte, duplicar, and pushes.

Two clients run side by side. `curso` behaves like the course client (Mensaje defined in
__main__, never subscribes). `oyente` subscribes and uses a Mensaje class that lives in a
module named `cliente`, as when the course client is imported instead of run. While
`curso` uploads, copies and broadcasts, `oyente` receives the pushed file and a message,
and `curso` keeps getting only its own replies.
Run: python3 desafios.py PORT SERVED_DIR. Exit code 0 means all passed.
"""
import os
import pickle
import socket
import sys
import types


class Mensaje:
    def __init__(self, operacion=None, data=None, estado=None):
        self.operacion = operacion
        self.data = data
        self.estado = estado


# The same class under the module name `cliente`, registered so pickle can find it.
modulo = types.ModuleType("cliente")
exec(
    "class Mensaje:\n"
    "    def __init__(self, operacion=None, data=None, estado=None):\n"
    "        self.operacion, self.data, self.estado = operacion, data, estado\n",
    modulo.__dict__,
)
sys.modules["cliente"] = modulo


class Conexion:
    def __init__(self, port, clase):
        self.clase = clase
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)

    def leer(self, n):
        datos = bytearray()
        while len(datos) < n:
            parte = self.s.recv(min(1 << 16, n - len(datos)))
            if not parte:
                raise ConnectionError("the server closed the connection")
            datos += parte
        return bytes(datos)

    def enviar(self, operacion, data=None):
        datos = pickle.dumps(self.clase(operacion, data))
        self.s.sendall(len(datos).to_bytes(4, "big") + datos)

    def recibir(self):
        return pickle.loads(self.leer(int.from_bytes(self.leer(4), "big")))

    def pedir(self, operacion, data=None):
        self.enviar(operacion, data)
        r = self.recibir()
        assert r.operacion == operacion, (operacion, r.operacion, r.data)
        return r


def main():
    port, servida = int(sys.argv[1]), sys.argv[2]
    curso = Conexion(port, Mensaje)
    oyente = Conexion(port, modulo.Mensaje)

    r = oyente.pedir("suscribir", {"alias": "oyente"})
    assert r.estado == "ok" and isinstance(r.data["id"], int), r.data
    assert type(r).__module__ == "cliente", type(r)
    print("suscribir ok:", r.data)

    contenido = os.urandom(300_000)
    r = curso.pedir("subir", {"nombre": "subido.bin", "contenido": contenido})
    assert r.estado == "ok" and r.data == {"nombre": "subido.bin", "bytes": 300_000}, r.data
    with open(os.path.join(servida, "subido.bin"), "rb") as f:
        assert f.read() == contenido
    r = curso.pedir("subir", {"nombre": "subido.bin", "contenido": b"x"})
    assert r.estado == "error" and isinstance(r.data, str), r.data
    print("subir ok")

    grande = os.urandom(5 * 1024 * 1024)
    paso = 2 * 1024 * 1024
    for desde in range(0, len(grande), paso):
        parte = grande[desde:desde + paso]
        fin = desde + len(parte) == len(grande)
        r = curso.pedir("subir_parte", {"nombre": "partes.bin", "contenido": parte,
                                        "desde": desde, "fin": fin})
        assert r.estado == "ok" and r.data["recibidos"] == desde + len(parte), r.data
    with open(os.path.join(servida, "partes.bin"), "rb") as f:
        assert f.read() == grande
    print("subir_parte ok")

    r = curso.pedir("duplicar", "subido.bin")
    assert r.estado == "ok" and r.data == {"nombre": "subido (copia).bin"}, r.data
    with open(os.path.join(servida, "subido (copia).bin"), "rb") as f:
        assert f.read() == contenido
    print("duplicar ok:", r.data["nombre"])

    r = curso.pedir("difundir", "subido.bin")
    assert r.estado == "ok" and r.data["enviado_a"] == 1, r.data
    push = oyente.recibir()
    assert push.operacion == "archivo" and push.estado == "ok", push.operacion
    assert push.data["nombre"] == "subido.bin" and push.data["contenido"] == contenido
    print("difundir ok: push de", len(push.data["contenido"]), "bytes")

    r = curso.pedir("mensaje", {"para": "todos", "texto": "¡hola!"})
    assert r.estado == "ok" and r.data == {"entregado_a": 1}, r.data
    push = oyente.recibir()
    assert push.operacion == "mensaje" and push.data["texto"] == "¡hola!", vars(push)
    print("mensaje ok")

    # The course-style client still gets exactly its own replies, in order.
    r = curso.pedir("listar")
    assert "partes.bin" in r.data and "subido (copia).bin" in r.data, r.data
    r = oyente.pedir("listar")
    assert r.estado == "ok"
    print("todo ok")


if __name__ == "__main__":
    main()
