"""Protocol 2 end to end: the example client (examples/py/cliente_v2.py) against the real
server, with a course-style connection (cliente_curso.py's) asking between its requests.

The main run: hola, listar, a download checked with resumen, uploads carrying sha256,
one whose sha256 does not match (refused, nothing published), a resumed subir_parte
whose sha256_previo does not match (refused, nothing appended), and the example's own
resume starting over. Between those, the course-style connection lists, downloads and
asks resumen, and must get pickled Mensaje replies exactly as before. It never
subscribes, so it can run beside desafios.py, which counts the subscribers.

With --avisos: pushes. A protocol-2 subscriber and a course-style one get the same
broadcast file, each in its own protocol; a message from the course side reaches the
protocol-2 one marked "aviso".

Run: python3 protocolo2.py PORT SERVED_DIR [--avisos]. Exit code 0 means all passed.
"""
import hashlib
import os
import sys
import tempfile

AQUI = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(AQUI, "..", "..", "examples", "py"))
sys.path.insert(0, AQUI)

import cliente_curso  # noqa: E402
from cliente_v2 import ClienteV2, ErrorServidor  # noqa: E402


def sha(datos):
    return hashlib.sha256(datos).hexdigest()


def leer(ruta):
    with open(ruta, "rb") as f:
        return f.read()


def escribir(ruta, datos):
    with open(ruta, "wb") as f:
        f.write(datos)


def rechazado(accion, texto):
    """Runs accion(); it must raise ErrorServidor whose message contains texto."""
    try:
        accion()
    except ErrorServidor as e:
        assert texto in str(e), (texto, str(e))
        return str(e)
    raise AssertionError(f"se esperaba un error con {texto!r}")


def principal(port, servida, tmp):
    c = ClienteV2("127.0.0.1", port, timeout=30)
    curso = cliente_curso.Cliente(port, "127.0.0.1")
    assert c.servidor["version"] == 2, c.servidor
    assert "resumen" in c.servidor["operaciones"], c.servidor
    print("hola ok:", c.servidor["limites"])

    poema = leer(os.path.join(servida, "poema.txt"))
    assert "poema.txt" in c.listar()
    r = curso.pedir("listar")
    assert isinstance(r, cliente_curso.Mensaje) and r.estado == "ok", vars(r)
    assert "poema.txt" in r.data, r.data
    print("listar ok en ambos protocolos")

    for nombre in ["poema.txt", "canción_ñandú.txt", "mi foto.png"]:
        destino = os.path.join(tmp, nombre)
        n = c.descargar(nombre, destino)
        original = leer(os.path.join(servida, nombre))
        assert n == len(original) and leer(destino) == original, nombre
        r = curso.pedir("descargar", nombre)
        assert r.estado == "ok" and r.data == original, nombre
    r = c.resumen("poema.txt")
    assert r["sha256"] == sha(poema) and r["bytes"] == len(poema), r
    r = curso.pedir("resumen", "poema.txt")
    assert r.estado == "ok" and r.data["sha256"] == sha(poema), vars(r)
    print("descargar ok, verificado con resumen")

    contenido = os.urandom(200_000)
    ruta = os.path.join(tmp, "subir.bin")
    escribir(ruta, contenido)
    r = c.subir(ruta, "p2-subido.bin")
    assert r == {"nombre": "p2-subido.bin", "bytes": 200_000}, r
    assert leer(os.path.join(servida, "p2-subido.bin")) == contenido
    r = curso.pedir("descargar", "p2-subido.bin")
    assert r.estado == "ok" and r.data == contenido
    print("subir con sha256 ok")

    texto = rechazado(
        lambda: c.pedir("subir", {"nombre": "p2-malo.bin", "sha256": sha(b"otra cosa")}, contenido),
        "sha256 no coincide",
    )
    assert not os.path.exists(os.path.join(servida, "p2-malo.bin"))
    assert "p2-malo.bin" not in c.listar()
    r = curso.pedir("listar")
    assert r.estado == "ok" and "p2-malo.bin" not in r.data
    print("sha256 distinto rechazado, nada publicado:", texto)

    r = c.pedir("subir_parte", {"nombre": "p2-partes.bin", "desde": 0, "fin": False}, b"a" * 1000)
    assert r["recibidos"] == 1000, r
    texto = rechazado(
        lambda: c.pedir(
            "subir_parte",
            {"nombre": "p2-partes.bin", "desde": 1000, "fin": False, "sha256_previo": sha(b"b" * 1000)},
            b"c" * 10,
        ),
        "sha256_previo no coincide",
    )
    assert c.pedir("subir_parte", {"nombre": "p2-partes.bin"})["recibidos"] == 1000
    assert not os.path.exists(os.path.join(servida, "p2-partes.bin"))
    print("sha256_previo distinto rechazado, nada agregado:", texto)

    # The example's own upload in parts: the 1000 staged bytes are not the start of this
    # file, so it is refused once and starts over from 0.
    grande = os.urandom(2_500_000)
    ruta = os.path.join(tmp, "grande.bin")
    escribir(ruta, grande)
    r = c.subir_por_partes(ruta, "p2-partes.bin", parte=1_000_000)
    assert r["recibidos"] == len(grande), r
    assert leer(os.path.join(servida, "p2-partes.bin")) == grande
    # Staged bytes that are ours are proven and kept: the upload goes on from them.
    r = c.pedir("subir_parte", {"nombre": "p2-retomado.bin", "desde": 0, "fin": False}, grande[:1_000_000])
    assert r["recibidos"] == 1_000_000, r
    r = c.subir_por_partes(ruta, "p2-retomado.bin", parte=1_000_000)
    assert r["recibidos"] == len(grande), r
    assert leer(os.path.join(servida, "p2-retomado.bin")) == grande
    print("subir_parte retomado ok")

    rechazado(lambda: c.pedir("descargar", "no-existe.txt"), "no existe")
    r = curso.pedir("bailar")
    assert r.estado == "error" and "bailar" in r.data and r.operacion == "bailar", vars(r)
    c.cerrar()
    curso.socket_cliente.close()
    print("todo ok")


def avisos(port, servida):
    poema = leer(os.path.join(servida, "poema.txt"))
    emisor = ClienteV2("127.0.0.1", port, timeout=30)
    oyente = ClienteV2("127.0.0.1", port, timeout=30)
    oyente_curso = cliente_curso.Cliente(port, "127.0.0.1")
    id_oyente = oyente.pedir("suscribir", {"alias": "v2"})["id"]
    r = oyente_curso.pedir("suscribir", {"alias": "curso"})
    assert r.estado == "ok", vars(r)

    r = emisor.pedir("difundir", "poema.txt")
    assert r["enviado_a"] == 2, r
    # The push reaches the protocol-2 subscriber before the reply to what it asks next.
    oyente.listar()
    encabezado, cuerpo = oyente.avisos.pop(0)
    assert encabezado["aviso"] is True and "id" not in encabezado, encabezado
    assert encabezado["operacion"] == "archivo" and encabezado["data"]["nombre"] == "poema.txt"
    assert cuerpo == poema
    push = oyente_curso.recibir()
    assert isinstance(push, cliente_curso.Mensaje), type(push)
    assert push.operacion == "archivo" and push.data["contenido"] == poema, push.operacion
    print("difundir ok: un suscriptor de cada protocolo")

    r = oyente_curso.pedir("mensaje", {"para": id_oyente, "texto": "¿llegó?"})
    assert r.estado == "ok" and r.data == {"entregado_a": 1}, vars(r)
    oyente.listar()
    encabezado, cuerpo = oyente.avisos.pop(0)
    assert encabezado["aviso"] is True and encabezado["operacion"] == "mensaje", encabezado
    assert encabezado["data"]["texto"] == "¿llegó?" and encabezado["data"]["alias"] == "curso"
    assert cuerpo == b""
    for c in (emisor, oyente):
        c.cerrar()
    oyente_curso.socket_cliente.close()
    print("todo ok")


def main():
    port, servida = int(sys.argv[1]), sys.argv[2]
    if sys.argv[3:] == ["--avisos"]:
        avisos(port, servida)
        return
    with tempfile.TemporaryDirectory() as tmp:
        principal(port, servida, tmp)


if __name__ == "__main__":
    main()
