#pragma once

// The CPU features our SIMD paths need, read once with CPUID (and XGETBV, so that AVX state is
// known to be saved by the OS). GCC's and clang's __builtin_cpu_supports do not accept the same
// feature names (clang 14 knows neither "f16c" nor "avxvnni"), so every run-time dispatch asks
// here instead.

namespace QuantFit {

struct CpuFeatures {
    bool avx2 = false;
    bool fma = false;
    bool f16c = false;
    bool avxVnni = false; ///< AVX-VNNI (VEX-encoded vpdpbusd on 256-bit registers)
    /// AVX-512 F, BW, VL and DQ, with the opmask and ZMM state saved by the OS.
    bool avx512 = false;
    bool avx512Vnni = false; ///< avx512 and AVX512_VNNI (EVEX vpdpbusd)

    /// AVX2 + FMA + F16C: what our AVX2 kernels assume together.
    bool avx2Fma() const { return avx2 && fma && f16c; }
};

/// The features of the CPU we run on (all false on other architectures).
const CpuFeatures &cpuFeatures();

} // namespace QuantFit
