/* For the wine smoke test only: Rust's std (1.78+) takes random bytes from ProcessPrng in
 * bcryptprimitives.dll, which every Windows 10+ has but Debian's wine 8 does not. This
 * stand-in forwards to RtlGenRandom (advapi32's SystemFunction036). It is built next to
 * the .exe in a temporary directory and never shipped. */
#include <windows.h>
BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
