#!/usr/bin/env python3
"""An example client for almacen's protocol 2, using only Python's standard library.

Protocol 2 frames are: 4 bytes of big-endian length L, L bytes of a UTF-8 JSON object,
then exactly as many raw bytes as the object's "bytes" key says (L does not count them).
Every request carries an integer "id" that its reply echoes; pushes carry "aviso": true.
The connection starts in the course's protocol, and a pickled `hola` switches it.

Unlike the course's client, nothing here calls pickle.loads on what a server sends,
except once, for the reply to `hola`, and then through an Unpickler that refuses every
class but the course's __main__.Mensaje (which becomes a harmless local class: the
server wraps its "servidor lleno" and too-large replies in one, whatever the request
looked like): a hostile server cannot make this client run code.

Usage (messages in Spanish, like the course):

    python3 cliente_v2.py [--host H] [--puerto P] listar
    python3 cliente_v2.py [--host H] [--puerto P] resumen NOMBRE
    python3 cliente_v2.py [--host H] [--puerto P] descargar NOMBRE [DESTINO]
    python3 cliente_v2.py [--host H] [--puerto P] subir RUTA [NOMBRE] [--reemplazar]
    python3 cliente_v2.py --autoprueba

Downloads are checked against the server's `resumen` (SHA-256), and uploads carry their
SHA-256 so the server publishes nothing that arrived damaged. Big files go up in parts
and resume where they stopped, after checking that the part the server holds is ours.
"""
import argparse
import hashlib
import io
import json
import os
import pickle
import socket
import struct
import sys
import threading

# The most JSON we accept in one reply (a listing of many names is the largest).
MAX_JSON = 64 * 1024 * 1024
# Bytes read or written at a time for raw bodies.
TROZO = 1024 * 1024
# Size of each piece of an upload in parts (kept under the server's limit).
PARTE = 4 * 1024 * 1024


class ErrorServidor(Exception):
    """The server answered estado "error"; the message is its Spanish text."""


class ErrorProtocolo(Exception):
    """The server sent something that is not protocol 2 as documented."""


# --- the course's protocol, only for `hola` -------------------------------------------


class _Mensaje:
    """Stands in for the course's Mensaje when the server wraps a reply in one."""

    def __setstate__(self, estado):
        self.__dict__.update(estado)


class _UnpicklerSeguro(pickle.Unpickler):
    """Loads plain data only. The server wraps a few replies as __main__.Mensaje; that
    name gets a harmless local class. Any other class or function is refused, so a
    pickle cannot make this client import or call anything."""

    def find_class(self, module, name):
        if (module, name) == ("__main__", "Mensaje"):
            return _Mensaje
        raise ErrorProtocolo(f"el servidor envió una clase no permitida: {module}.{name}")


def _cargar_pickle(datos):
    valor = _UnpicklerSeguro(io.BytesIO(datos)).load()
    if isinstance(valor, _Mensaje):
        valor = dict(valor.__dict__)
    if not isinstance(valor, dict):
        raise ErrorProtocolo("la respuesta a hola no es un mensaje")
    return valor


# --- protocol 2 frames ----------------------------------------------------------------


def marco(mensaje, contenido=b""):
    """The bytes of one frame: prefix, compact JSON, raw bytes. `mensaje` must already
    say "bytes": len(contenido) when there is a body."""
    texto = json.dumps(mensaje, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    datos = texto.encode("utf-8")
    return struct.pack(">I", len(datos)) + datos + bytes(contenido)


def _sin_repetidas(pares):
    claves = [k for k, _ in pares]
    if len(set(claves)) != len(claves):
        raise ErrorProtocolo("el servidor repitió una clave en un objeto JSON")
    return dict(pares)


def _leer_exacto(archivo, n):
    """Exactly n bytes from a binary file object (a socket's makefile, or a file)."""
    datos = archivo.read(n)
    if datos is None or len(datos) != n:
        raise ConnectionError("el servidor cerró la conexión a mitad de un mensaje")
    return datos


def leer_encabezado(archivo):
    """Reads one frame's prefix and JSON object; returns it as a dict. The raw bytes,
    if any, are still to be read: see leer_cuerpo."""
    (largo,) = struct.unpack(">I", _leer_exacto(archivo, 4))
    if largo > MAX_JSON:
        raise ErrorProtocolo(f"encabezado JSON demasiado grande ({largo} bytes)")
    try:
        encabezado = json.loads(_leer_exacto(archivo, largo).decode("utf-8"), object_pairs_hook=_sin_repetidas)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ErrorProtocolo(f"encabezado JSON inválido: {e}") from None
    if not isinstance(encabezado, dict) or not isinstance(encabezado.get("operacion"), str):
        raise ErrorProtocolo("el encabezado no es un objeto con operacion")
    n = encabezado.get("bytes", 0)
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ErrorProtocolo("bytes debe ser un entero no negativo")
    return encabezado


def leer_cuerpo(archivo, n, destino=None, resumen=None):
    """Reads the n raw bytes after a header: into `destino` (a file) in slices when
    given, else into memory. `resumen` (a hashlib object) sees every byte."""
    partes = [] if destino is None else None
    while n > 0:
        trozo = _leer_exacto(archivo, min(TROZO, n))
        n -= len(trozo)
        if resumen is not None:
            resumen.update(trozo)
        if destino is None:
            partes.append(trozo)
        else:
            destino.write(trozo)
    return b"".join(partes) if partes is not None else None


# --- the client -----------------------------------------------------------------------


class ClienteV2:
    def __init__(self, host="localhost", puerto=3247, timeout=60):
        self.sock = socket.create_connection((host, puerto), timeout=timeout)
        self.entrada = self.sock.makefile("rb")
        self.siguiente_id = 1
        # Pushes (frames with "aviso") that arrived while we waited for a reply.
        self.avisos = []
        self.servidor = self._hola()
        self.limite_bytes = self.servidor["limites"]["bytes"]

    def cerrar(self):
        self.entrada.close()
        self.sock.close()

    def _hola(self):
        """Asks for protocol 2 in the course's protocol. The request is a pickled dict,
        so the reply is a plain dict too."""
        datos = pickle.dumps({"operacion": "hola", "data": {"version": 2}, "estado": None})
        self.sock.sendall(struct.pack(">I", len(datos)) + datos)
        (largo,) = struct.unpack(">I", _leer_exacto(self.entrada, 4))
        if largo > MAX_JSON:
            raise ErrorProtocolo("respuesta a hola demasiado grande")
        respuesta = _cargar_pickle(_leer_exacto(self.entrada, largo))
        if respuesta.get("estado") != "ok":
            raise ErrorServidor(respuesta.get("data"))
        data = respuesta.get("data")
        if not isinstance(data, dict) or data.get("version") != 2:
            raise ErrorProtocolo("el servidor no aceptó la versión 2")
        return data

    def enviar(self, operacion, data=None, contenido=None):
        """Sends one request; returns its id. `contenido` (bytes) travels raw."""
        id_ = self.siguiente_id
        self.siguiente_id += 1
        mensaje = {"id": id_, "operacion": operacion}
        if data is not None:
            mensaje["data"] = data
        if contenido is not None:
            mensaje["bytes"] = len(contenido)
        self.sock.sendall(marco(mensaje))
        if contenido:
            self.sock.sendall(memoryview(contenido))
        return id_

    def recibir(self, id_, destino=None, resumen=None):
        """Reads frames until the reply to `id_`; pushes met on the way are kept in
        self.avisos. A reply's raw bytes go to `destino` if given. Returns (header,
        raw bytes or None); raises ErrorServidor for an error reply."""
        while True:
            encabezado = leer_encabezado(self.entrada)
            n = encabezado.get("bytes", 0)
            if encabezado.get("aviso") is True:
                self.avisos.append((encabezado, leer_cuerpo(self.entrada, n)))
                continue
            if encabezado.get("id") != id_:
                raise ErrorProtocolo(f"se esperaba la respuesta {id_} y llegó {encabezado.get('id')}")
            cuerpo = None
            if encabezado.get("estado") == "ok":
                cuerpo = leer_cuerpo(self.entrada, n, destino, resumen)
            else:
                leer_cuerpo(self.entrada, n)  # an error has no body, but stay in step
                raise ErrorServidor(encabezado.get("data"))
            return encabezado, cuerpo

    def pedir(self, operacion, data=None, contenido=None):
        """One request, one reply: returns the reply's data (or its bytes)."""
        encabezado, cuerpo = self.recibir(self.enviar(operacion, data, contenido))
        return cuerpo if "bytes" in encabezado else encabezado.get("data")

    # --- operations ---

    def listar(self):
        return self.pedir("listar")

    def resumen(self, nombre):
        """{"nombre", "bytes", "modificado", "sha256"} of a file on the server."""
        return self.pedir("resumen", nombre)

    def descargar(self, nombre, ruta):
        """Downloads into a temporary file, then checks size and SHA-256 against
        `resumen` before putting it in place. Returns the number of bytes."""
        temporal = ruta + ".parcial"
        suma = hashlib.sha256()
        try:
            with open(temporal, "wb") as destino:
                id_ = self.enviar("descargar", nombre)
                encabezado, _ = self.recibir(id_, destino, suma)
            esperado = self.resumen(nombre)
            recibidos = encabezado.get("bytes", 0)
            if recibidos != esperado["bytes"] or suma.hexdigest() != esperado["sha256"]:
                raise ErrorProtocolo(f"{nombre} llegó distinto de lo que el servidor tiene; intente de nuevo")
            os.replace(temporal, ruta)
            return recibidos
        finally:
            if os.path.exists(temporal):
                os.remove(temporal)

    def subir(self, ruta, nombre=None, reemplazar=False):
        """Uploads a file whole, or in parts when it is over the server's limit."""
        nombre = nombre or os.path.basename(ruta)
        tamaño = os.path.getsize(ruta)
        if tamaño > self.limite_bytes:
            return self.subir_por_partes(ruta, nombre, reemplazar)
        with open(ruta, "rb") as f:
            contenido = f.read()
        data = {"nombre": nombre, "sha256": hashlib.sha256(contenido).hexdigest()}
        if reemplazar:
            data["reemplazar"] = True
        return self.pedir("subir", data, contenido)

    def subir_por_partes(self, ruta, nombre, reemplazar=False, parte=PARTE):
        """Resumable: asks how much the server holds, proves with sha256_previo that
        it is the start of this file, and sends the rest; `fin` carries the whole
        file's SHA-256."""
        tamaño = os.path.getsize(ruta)
        parte = max(1, min(parte, self.limite_bytes))
        desde = self.pedir("subir_parte", {"nombre": nombre})["recibidos"]
        if desde > tamaño:
            desde = 0  # what is staged cannot be ours
        with open(ruta, "rb") as f:
            previo = hashlib.sha256()
            restantes = desde
            while restantes:
                trozo = f.read(min(TROZO, restantes))
                previo.update(trozo)
                restantes -= len(trozo)
            total = previo.copy()
            while True:
                trozo = f.read(parte)
                fin = desde + len(trozo) >= tamaño
                total.update(trozo)
                data = {"nombre": nombre, "desde": desde, "fin": fin}
                # The server checks reemplazar on every piece, not only with fin.
                if reemplazar:
                    data["reemplazar"] = True
                if desde > 0 and previo is not None:
                    data["sha256_previo"] = previo.hexdigest()
                if fin:
                    data["sha256"] = total.hexdigest()
                try:
                    r = self.pedir("subir_parte", data, trozo)
                except ErrorServidor:
                    if previo is None or desde == 0:
                        raise
                    # The staged bytes are not the start of our file: start over.
                    f.seek(0)
                    desde, previo, total = 0, None, hashlib.sha256()
                    continue
                previo = None  # proven once; the next pieces continue it
                desde = r["recibidos"]
                if fin:
                    return r


# --- command line ---------------------------------------------------------------------


def main(argv=None):
    p = argparse.ArgumentParser(description="Cliente de ejemplo del protocolo 2 de almacen.")
    p.add_argument("--host", default="localhost")
    p.add_argument("--puerto", type=int, default=3247)
    p.add_argument("--autoprueba", action="store_true", help="prueba el formato de los mensajes, sin servidor")
    p.add_argument("orden", nargs="?", choices=["listar", "resumen", "descargar", "subir"])
    p.add_argument("argumentos", nargs="*")
    p.add_argument("--reemplazar", action="store_true")
    a = p.parse_args(argv)
    if a.autoprueba:
        return autoprueba()
    if not a.orden:
        p.error("falta la orden (listar, resumen, descargar o subir)")
    try:
        c = ClienteV2(a.host, a.puerto)
    except OSError as e:
        print(f"no se pudo conectar a {a.host}:{a.puerto}: {e}", file=sys.stderr)
        return 1
    except (ErrorServidor, ErrorProtocolo) as e:
        # The server's own words, such as "servidor lleno, intente más tarde".
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        if a.orden == "listar":
            for nombre in c.listar():
                print(nombre)
        elif a.orden == "resumen" and len(a.argumentos) == 1:
            r = c.resumen(a.argumentos[0])
            print(f"{r['sha256']}  {r['nombre']} ({r['bytes']} bytes)")
        elif a.orden == "descargar" and len(a.argumentos) in (1, 2):
            nombre = a.argumentos[0]
            ruta = a.argumentos[1] if len(a.argumentos) == 2 else os.path.basename(nombre)
            n = c.descargar(nombre, ruta)
            print(f"{nombre}: {n} bytes en {ruta}, sha256 verificado")
        elif a.orden == "subir" and len(a.argumentos) in (1, 2):
            nombre = a.argumentos[1] if len(a.argumentos) == 2 else None
            r = c.subir(a.argumentos[0], nombre, a.reemplazar)
            print(f"{r['nombre']}: subido, sha256 verificado por el servidor")
        else:
            p.error(f"argumentos inválidos para {a.orden}")
    except (ErrorServidor, ErrorProtocolo, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        c.cerrar()
    return 0


# --- offline self-test: framing, without a server -------------------------------------


def autoprueba():
    # A frame is prefix + compact JSON + raw bytes, byte for byte.
    f = marco({"id": 1, "operacion": "subir", "data": {"nombre": "ñ"}, "bytes": 3}, b"abc")
    texto = '{"id":1,"operacion":"subir","data":{"nombre":"ñ"},"bytes":3}'.encode()
    assert f == struct.pack(">I", len(texto)) + texto + b"abc", f
    # Reading it back: header first, then exactly the raw bytes, and the next frame.
    flujo = io.BytesIO(f + marco({"id": 2, "operacion": "listar"}))
    e = leer_encabezado(flujo)
    assert e["bytes"] == 3 and leer_cuerpo(flujo, 3) == b"abc", e
    assert leer_encabezado(flujo)["id"] == 2
    # What a hostile server could send is refused, not obeyed.
    for malo in [b'{"operacion":"x","bytes":-1}', b'{"operacion":"x","a":1,"a":2}', b"[1]", b"\xff"]:
        try:
            leer_encabezado(io.BytesIO(struct.pack(">I", len(malo)) + malo))
        except ErrorProtocolo:
            continue
        raise AssertionError(malo)
    try:
        _cargar_pickle(pickle.dumps(os.system))  # a function by name: refused, never called
        raise AssertionError("a global was loaded")
    except ErrorProtocolo:
        pass
    # A push that arrives before a reply is kept, and the reply's body goes to its file.
    servidor, cliente = socket.socketpair()

    def fake():
        (largo,) = struct.unpack(">I", servidor.recv(4, socket.MSG_WAITALL))
        pedido = json.loads(servidor.recv(largo, socket.MSG_WAITALL))
        servidor.sendall(marco({"aviso": True, "operacion": "mensaje", "data": {"de": 2, "texto": "hola"}}))
        respuesta = {"id": pedido["id"], "operacion": "descargar", "estado": "ok", "bytes": 5}
        servidor.sendall(marco(respuesta, b"12345"))

    hilo = threading.Thread(target=fake)
    hilo.start()
    c = ClienteV2.__new__(ClienteV2)
    c.sock, c.entrada, c.siguiente_id, c.avisos = cliente, cliente.makefile("rb"), 7, []
    destino, suma = io.BytesIO(), hashlib.sha256()
    encabezado, _ = c.recibir(c.enviar("descargar", "a.txt"), destino, suma)
    hilo.join()
    assert encabezado["id"] == 7 and destino.getvalue() == b"12345", encabezado
    assert suma.hexdigest() == hashlib.sha256(b"12345").hexdigest()
    assert c.avisos[0][0]["data"]["texto"] == "hola", c.avisos
    c.cerrar()
    servidor.close()
    print("autoprueba: todo ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
