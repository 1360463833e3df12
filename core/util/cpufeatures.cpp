#include "cpufeatures.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace QuantFit {

namespace {

CpuFeatures detect()
{
    CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx))
        return f;
    const unsigned maxLeaf = eax;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx))
        return f;
    const bool fma = ecx & (1u << 12);
    const bool osxsave = ecx & (1u << 27);
    const bool avx = ecx & (1u << 28);
    const bool f16c = ecx & (1u << 29);
    if (!osxsave || !avx)
        return f;
    // XCR0 bits 1 (SSE state) and 2 (AVX state): the OS saves the YMM registers.
    unsigned xcr0Lo = 0, xcr0Hi = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0Lo), "=d"(xcr0Hi) : "c"(0));
    if ((xcr0Lo & 6u) != 6u)
        return f;
    f.fma = fma;
    f.f16c = f16c;
    if (maxLeaf >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        f.avx2 = ebx & (1u << 5);
        // F (bit 16), DQ (17), BW (30), VL (31); XCR0 bits 5..7: opmask and both ZMM halves.
        const unsigned need = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
        f.avx512 = f.avx2 && (ebx & need) == need && (xcr0Lo & 0xE0u) == 0xE0u;
        f.avx512Vnni = f.avx512 && (ecx & (1u << 11));
        __cpuid_count(7, 1, eax, ebx, ecx, edx);
        f.avxVnni = f.avx2 && (eax & (1u << 4));
    }
#endif
    return f;
}

} // namespace

const CpuFeatures &cpuFeatures()
{
    static const CpuFeatures features = detect();
    return features;
}

} // namespace QuantFit
