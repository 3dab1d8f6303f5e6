/* Test-environment shim: Wine 8 has no bcryptprimitives.dll, whose
 * ProcessPrng Rust's standard library calls for random numbers. This
 * forwards it to BCryptGenRandom, which Wine has. Built with mingw by
 * scripts/wine-check.sh and placed beside the .exe; never shipped. */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
