/*
 * ProcessPrng for wine releases that lack bcryptprimitives.dll (Debian 12's
 * wine 8.0). Go's Windows runtime (1.24 and later) imports ProcessPrng from
 * bcryptprimitives.dll at start-up, which every supported Windows (10 and
 * later) ships; wine added it in 9.x. tools/wine-check.sh builds this file
 * with mingw-w64 and puts the DLL into the throwaway wine prefix's system32 only when the wine prefix
 * has no bcryptprimitives.dll of its own. It is never part of a release.
 *
 * ProcessPrng fills the buffer from the system's preferred random number
 * generator and returns TRUE, as the documented function does.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
