/* A stand-in for Windows' bcryptprimitives.dll, for running our Windows builds under Wine 8
 * in tests only; it is never shipped.
 *
 * Rust's standard library on Windows takes its random bytes (HashMap seeds) from
 * bcryptprimitives.dll!ProcessPrng, which every Windows since 10 has and Wine 8 lacks, so every
 * Rust program fails to start under Wine 8 without it. This provides that one export on top of
 * RtlGenRandom (advapi32!SystemFunction036), which Wine implements.
 *
 * Built by tools/setup_windows.sh with mingw-w64 into the test Wine prefix's system32. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

/* ProcessPrng's documented contract: fill `len` bytes and return TRUE (it cannot fail). Large
 * requests are taken in slices because RtlGenRandom's length is 32 bits. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
