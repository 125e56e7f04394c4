/* bcryptprimitives.dll for wine 8, which lacks it.
 *
 * Rust's std (since 1.78) asks ProcessPrng in bcryptprimitives.dll for random bytes
 * (HashMap seeds). Real Windows 10 and later ship that DLL; wine 8 does not, so a
 * Windows build of almacen cannot start under it. This stand-in answers ProcessPrng
 * with advapi32's SystemFunction036 (RtlGenRandom), which wine has. It is built and
 * placed beside the .exe only for the wine smoke test (tests/wine/smoke.sh); it is never
 * shipped. Build: x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll
 *        bcryptprimitives.c bcryptprimitives.def -ladvapi32
 */
#include <windows.h>

/* RtlGenRandom's exported name; its prototype is not in mingw's headers by that name. */
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* SystemFunction036 takes a ULONG: fill big requests a piece at a time. */
    while (length > 0) {
        ULONG piece = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, piece))
            return FALSE;
        data += piece;
        length -= piece;
    }
    return TRUE;
}
