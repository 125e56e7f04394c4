"""A client that speaks exactly like the IIC2233 course's cliente.py.

It defines `Mensaje` in the script that runs as __main__, pickles with the default
protocol, frames with a 4-byte big-endian length, and reads replies with pickle.loads.
Run: python3 cliente_curso.py PORT SERVED_DIR DOWNLOAD_DIR

It lists the folder, downloads every file, asks for a missing one and a few bad names,
and checks every downloaded byte against the served folder. Exit code 0 means all passed.
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


class Cliente:
    def __init__(self, port, host="localhost"):
        self.socket_cliente = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket_cliente.settimeout(30)
        self.socket_cliente.connect((host, port))

    def recibir_bytes(self, cantidad):
        leidos = bytearray()
        while len(leidos) < cantidad:
            parte = self.socket_cliente.recv(min(4096, cantidad - len(leidos)))
            if not parte:  # the course client would spin here; a test must not
                raise ConnectionError("the server closed the connection")
            leidos += parte
        return leidos

    def enviar(self, mensaje):
        datos = pickle.dumps(mensaje)
        self.socket_cliente.sendall(len(datos).to_bytes(4, byteorder="big") + datos)

    def recibir(self):
        largo = int.from_bytes(self.recibir_bytes(4), byteorder="big")
        return pickle.loads(self.recibir_bytes(largo))

    def pedir(self, operacion, data=None):
        self.enviar(Mensaje(operacion, data))
        return self.recibir()


def main():
    if len(sys.argv) != 4 or not sys.argv[1].isdigit():
        sys.exit(
            "uso: cliente_curso.py PUERTO CARPETA_SERVIDA CARPETA_DE_DESCARGAS\n"
            "(un cliente de prueba que habla como el del curso y revisa cada byte; "
            "no es el cliente del curso)"
        )
    port, servida, descargas = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    cliente = Cliente(port, "127.0.0.1")

    respuesta = cliente.pedir("listar")
    assert isinstance(respuesta, Mensaje), type(respuesta)
    assert respuesta.estado == "ok", respuesta.data
    esperados = sorted(
        n for n in os.listdir(servida)
        if not n.startswith(".") and os.path.isfile(os.path.join(servida, n))
    )
    assert respuesta.data == esperados, (respuesta.data, esperados)
    print("listar ok:", len(respuesta.data), "archivos")

    os.makedirs(descargas, exist_ok=True)
    for nombre in respuesta.data:
        r = cliente.pedir("descargar", nombre)
        assert r.estado == "ok", (nombre, r.data)
        assert isinstance(r.data, bytes), type(r.data)
        with open(os.path.join(descargas, nombre), "wb") as f:
            f.write(r.data)
        with open(os.path.join(servida, nombre), "rb") as f:
            assert f.read() == r.data, nombre
        print("descargar ok:", nombre, len(r.data))

    for malo in ["no-existe.txt", "..", "../Cargo.toml", "/etc/passwd", "", ".oculto", 42]:
        r = cliente.pedir("descargar", malo)
        assert r.estado == "error", (malo, r.estado)
        assert isinstance(r.data, str) and r.data, r.data
        print("error ok:", repr(malo), "->", r.data)

    r = cliente.pedir("bailar")
    assert r.estado == "error" and "bailar" in r.data, r.data
    assert r.operacion == "bailar"
    print("desconocida ok:", r.data)
    cliente.socket_cliente.close()
    print("todo ok")


if __name__ == "__main__":
    main()
