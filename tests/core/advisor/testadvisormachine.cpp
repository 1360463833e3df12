// Machine profiles, placement and speed. Expected values are hand arithmetic over hand-made
// weight maps (the memory model's KV and compute-buffer functions, tested on their own against
// llama.cpp logs, give the non-weight parts), published limits (llama.cpp logs of Metal's
// recommendedMaxWorkingSetSize) and published model facts (active parameters from model cards).

#include "advisor/advisor.h"
#include "advisor/machineadvice.h"
#include "advisor/machineprofile.h"
#include "advisor/memorymodel.h"
#include "advisor/placement.h"
#include "advisor/shapetensors.h"
#include "advisor/speed.h"
#include "catalog/catalog.h"
#include "gguf/ggufreader.h"
#include "gguf/ggufwriter.h"
#include "system/gpuinfo.h"
#include "system/measuredspeed.h"
#include "system/systeminfo.h"
#include "util/error.h"

#include <QTemporaryDir>
#include <QTest>

#include <cmath>

using namespace QuantFit;

namespace {

constexpr std::uint64_t kMiB = 1024ull * 1024;
constexpr std::uint64_t kGiB = 1024ull * kMiB;
constexpr std::uint32_t kLayers = 10;
constexpr std::uint32_t kContext = 4096;

ModelShape denseShape()
{
    ModelShape s;
    s.id = QStringLiteral("test-dense");
    s.name = QStringLiteral("Test dense");
    s.nLayers = kLayers;
    s.nEmbd = 4096;
    s.nFf = 14336;
    s.nHeads = 32;
    s.nHeadsKv = 8;
    s.headDim = 128;
    s.nVocab = 32000;
    s.nCtxMax = 32768;
    return s;
}

ModelShape moeShape()
{
    ModelShape s = denseShape();
    s.id = QStringLiteral("test-moe");
    s.nFf = 0;
    s.nExperts = 8;
    s.nExpertsUsed = 2;
    s.nFfExpert = 1024;
    return s;
}

// 10 layers of `dense` + `experts` bytes, 0.25 GB input and output, one 8 KiB embedding row.
WeightMap handMap(std::uint64_t dense, std::uint64_t experts)
{
    WeightMap m;
    m.inputBytes = 250'000'000;
    m.inputParams = 125'000'000;
    m.inputRowBytes = 8192;
    m.outputBytes = 250'000'000;
    m.outputParams = 125'000'000;
    for (std::uint32_t i = 0; i < kLayers; ++i)
        m.layers.push_back({dense, experts, dense / 2, experts / 2, {}, {}});
    return m;
}

MachineProfile discrete(std::uint64_t vram)
{
    MachineProfile m;
    m.id = QStringLiteral("test");
    m.kind = MachineKind::DiscreteGpu;
    m.ramBytes = 64'000'000'000;
    m.cpuBandwidth = 50e9;
    m.cpuFlops = 1e12;
    m.gpuName = QStringLiteral("GPU");
    m.gpuDedicatedBytes = vram;
    m.gpuBandwidth = 500e9;
    m.gpuFlops = 50e12;
    m.pcieBandwidth = 25e9;
    return m;
}

PlacementOptions options()
{
    PlacementOptions o;
    o.contextTokens = kContext;
    o.modelFile = QStringLiteral("m.gguf");
    return o;
}

bool near(double a, double b, double rel = 1e-9)
{
    return std::abs(a - b) <= rel * std::max(std::abs(a), std::abs(b));
}

} // namespace

class TestAdvisorMachine : public QObject
{
    Q_OBJECT

private slots:
    void appleLimitMatchesMetalLogs()
    {
        // llama.cpp logs "recommendedMaxWorkingSetSize = 10922.67 MB" on a 16 GB Mac
        // (llama-cpp-python #687) and 49152.00 MiB on a 64 GB M2 Max (llama.cpp #1870).
        QVERIFY(std::abs(double(appleDefaultGpuLimitBytes(16 * kGiB)) / kMiB - 10922.67) < 0.01);
        QCOMPARE(appleDefaultGpuLimitBytes(64 * kGiB), 49152 * kMiB);
        // 36 GB Macs still get 2/3, larger ones 3/4.
        QCOMPARE(appleDefaultGpuLimitBytes(36 * kGiB), 24 * kGiB);
        QCOMPARE(appleDefaultGpuLimitBytes(48 * kGiB), 36 * kGiB);
        QCOMPARE(linuxDefaultGttBytes(32 * kGiB), 16 * kGiB);
    }

    void presetsCarryTheirSources()
    {
        const auto strix = findMachinePreset(QStringLiteral("STRIX-HALO-128"));
        QVERIFY(strix);
        QCOMPARE(strix->kind, MachineKind::ApuUnified);
        // 96 GB carve-out; the OS sees 32 GB and maps half of it as GTT.
        QCOMPARE(strix->systemRamBytes(), std::uint64_t(32'000'000'000));
        QCOMPARE(strix->gpuLimitBytes(), std::uint64_t(112'000'000'000));
        QVERIFY(near(strix->gpuBandwidth, 256e9 * kApuBandwidthEfficiency));
        QVERIFY(strix->gpuMemorySource.contains(QStringLiteral("GTT")));
        QVERIFY(strix->notes.join(QLatin1Char(' ')).contains(QStringLiteral("ttm.pages_limit")));

        const auto mac = findMachinePreset(QStringLiteral("mac-studio-192"));
        QVERIFY(mac);
        QCOMPARE(mac->gpuLimitBytes(), std::uint64_t(144'000'000'000));
        QVERIFY(mac->notes.join(QLatin1Char(' ')).contains(QStringLiteral("iogpu.wired_limit_mb")));
        QVERIFY(near(mac->gpuBandwidth, 800e9 * kAppleBandwidthEfficiency));

        const auto pc = findMachinePreset(QStringLiteral("pc-64gb-gpu24"));
        QVERIFY(pc);
        QCOMPARE(pc->gpuDedicatedBytes, 24 * kGiB);
        QCOMPARE(pc->systemRamBytes(), std::uint64_t(64'000'000'000));
        QVERIFY(near(pc->gpuBandwidth, 1008e9 * kGpuBandwidthEfficiency));
        QVERIFY(!findMachinePreset(QStringLiteral("no-such-machine")));

        for (const MachineProfile &m : machinePresets()) {
            QVERIFY2(!m.ramSource.isEmpty() && !m.cpuBandwidthSource.isEmpty(), qPrintable(m.id));
            if (m.hasGpu())
                QVERIFY2(!m.gpuMemorySource.isEmpty() && !m.gpuBandwidthSource.isEmpty()
                             && !m.gpuFlopsSource.isEmpty(),
                         qPrintable(m.id));
        }
    }

    void overrides()
    {
        MachineOverrides o;
        o.gpuLimitBytes = 56 * kGiB;
        const MachineProfile raised =
            applyOverrides(*findMachinePreset(QStringLiteral("mac-studio-64")), o);
        QCOMPARE(raised.gpuLimitBytes(), 56 * kGiB);
        QCOMPARE(raised.origin, QStringLiteral("custom"));
        QVERIFY(raised.gpuMemorySource.contains(QStringLiteral("iogpu.wired_limit_mb")));

        MachineOverrides gpu;
        gpu.vramBytes = 12'000'000'000;
        gpu.gpuBandwidth = 360e9;
        const MachineProfile withGpu = applyOverrides(cpuOnlyMachine(32'000'000'000), gpu);
        QCOMPARE(withGpu.kind, MachineKind::DiscreteGpu);
        QCOMPARE(withGpu.gpuLimitBytes(), std::uint64_t(12'000'000'000));
        QVERIFY(near(withGpu.gpuBandwidth, 360e9 * kGpuBandwidthEfficiency));
        QVERIFY(withGpu.gpuBandwidthSource.startsWith(QStringLiteral("given")));
    }

    void detectedMachine_()
    {
        SystemInfo system;
        system.totalRamBytes = 32'000'000'000; // what the OS sees
        system.cpuThreads = 32;
        GpuDevice apu;
        apu.card = QStringLiteral("card1");
        apu.driver = QStringLiteral("amdgpu");
        apu.vendorId = 0x1002;
        apu.vramBytes = 512 * kMiB;
        apu.gttBytes = 64 * kGiB;
        apu.integrated = true;
        MeasuredSpeed measured;
        measured.readBytesPerSecond = 100e9;
        measured.generatedTokensPerSecond = 70;
        measured.bytesPerToken = 274'000'000;
        measured.generationModel = QStringLiteral("synth.gguf");
        measured.promptTokensPerSecond = 300;
        measured.promptFlops = 3e11;
        const MachineProfile m = detectedMachine(system, {apu}, measured);
        QCOMPARE(m.kind, MachineKind::ApuUnified);
        QCOMPARE(m.ramBytes, 32'000'000'000 + 512 * kMiB);
        QCOMPARE(m.systemRamBytes(), std::uint64_t(32'000'000'000));
        QCOMPARE(m.gpuLimitBytes(), 512 * kMiB + 64 * kGiB);
        QVERIFY(m.gpuMemorySource.contains(QStringLiteral("mem_info_gtt_total")));
        // QuantFit's own generation replaces the assumed bandwidth.
        QVERIFY(near(m.cpuBandwidth, 70.0 * 274e6));
        QVERIFY(m.cpuBandwidthSource.contains(QStringLiteral("QuantFit's own generation")));
        QCOMPARE(m.cpuFlops, 3e11);
        QVERIFY(m.cpuFlopsSource.contains(QStringLiteral("prompt processing measured here")));

        GpuDevice nvidia;
        nvidia.card = QStringLiteral("card0");
        nvidia.driver = QStringLiteral("nvidia");
        nvidia.vendorId = 0x10de;
        const MachineProfile plain = detectedMachine(system, {nvidia}, std::nullopt);
        QCOMPARE(plain.kind, MachineKind::CpuOnly);
        QVERIFY(plain.notes.join(QLatin1Char(' ')).contains(QStringLiteral("--vram")));
        QVERIFY(plain.notes.join(QLatin1Char(' '))
                    .contains(QStringLiteral("quantfit-cli bandwidth")));
    }

    void denseLayerOffload()
    {
        const ModelShape s = denseShape();
        const WeightMap w = handMap(1'000'000'000, 0);
        const MachineProfile m = discrete(8 * kGiB);
        const Placement p = planPlacement(m, s, w, options());

        // By hand: k layers on the GPU with their KV cache, plus the GPU compute buffer, must fit
        // in VRAM - 512 kMiB; the output layer stays in RAM unless all layers fit.
        const std::uint64_t kv = kvCacheLayerBytes(s, 0, kContext, KvCacheType::F16);
        QCOMPARE(kv, std::uint64_t(2 * 8 * 128 * 4096 * 2)); // K and V, f16
        const std::uint64_t compute = gpuComputeBuffers(s, kContext, false).deviceBytes;
        const std::uint64_t limit = 8 * kGiB - 512 * kMiB;
        const std::uint32_t k = std::uint32_t((limit - compute) / (1'000'000'000 + kv));
        QCOMPARE(p.mode, PlacementMode::LayerOffload);
        QCOMPARE(p.nGpuLayers, k);
        QCOMPARE(p.nCpuMoe, 0u);
        QCOMPARE(p.gpu.weightsBytes, std::uint64_t(k) * 1'000'000'000);
        QCOMPARE(p.host.weightsBytes,
                 std::uint64_t(kLayers - k) * 1'000'000'000 + 500'000'000);
        QCOMPARE(p.host.kvCacheBytes, std::uint64_t(kLayers - k) * kv);
        QCOMPARE(p.llamaCommand, QStringLiteral("llama-server -m m.gguf -ngl %1 -c 4096 -np 1")
                                     .arg(k));
        QVERIFY(p.lmStudio.contains(QStringLiteral("%1 of 10 layers").arg(k)));
        QVERIFY(p.ollama.contains(QStringLiteral("num_gpu %1").arg(k)));

        // Generation: each device reads its layers and their KV cache at its bandwidth.
        const SpeedEstimate e = estimateSpeed(m, s, w, p);
        const double gpuBytes = double(k) * (1e9 + double(kv));
        const double cpuBytes = double(kLayers - k) * (1e9 + double(kv)) + 250e6 + 8192;
        QVERIFY(near(e.gpuBytesPerToken, gpuBytes));
        QVERIFY(near(e.cpuBytesPerToken, cpuBytes));
        QVERIFY(near(e.generationTokensPerSecond, 1.0 / (gpuBytes / 500e9 + cpuBytes / 50e9)));
        // Prompt: 2 x (layers + output) params + attention, on the GPU, plus the weights in RAM
        // over PCIe once per 512 tokens.
        const double flops = 2.0 * (10 * 500e6 + 125e6) + 4.0 * 10 * 4096 * 256;
        QVERIFY(near(e.flopsPerToken, flops));
        const double hostWeights = double(kLayers - k) * 1e9 + 250e6;
        QVERIFY(near(e.promptTokensPerSecond, 1.0 / (flops / 50e12 + hostWeights / 25e9 / 512)));

        // Everything fits on a large GPU: all layers and the output layer.
        const Placement full = planPlacement(discrete(24 * kGiB), s, w, options());
        QCOMPARE(full.mode, PlacementMode::FullGpu);
        QCOMPARE(full.nGpuLayers, kLayers + 1);
        QCOMPARE(full.gpu.weightsBytes, std::uint64_t(10'250'000'000));
        QCOMPARE(full.host.weightsBytes, std::uint64_t(250'000'000));
        QCOMPARE(full.longestContextTokens % 256, 0u);
        QVERIFY(full.longestContextTokens >= kContext);
    }

    void moeExpertOffload()
    {
        const ModelShape s = moeShape();
        const WeightMap w = handMap(200'000'000, 2'000'000'000);
        const MachineProfile m = discrete(12 * kGiB);
        const Placement p = planPlacement(m, s, w, options());

        // Everything stays on the GPU but the experts of the first `cpu` layers:
        // 10 x 0.2 GB + (10 - cpu) x 2 GB + output + KV + compute <= VRAM - 512 kMiB.
        const std::uint64_t kv = kvCacheLayerBytes(s, 0, kContext, KvCacheType::F16);
        const std::uint64_t fixed = 10 * 200'000'000ull + 250'000'000 + 10 * kv
            + gpuComputeBuffers(s, kContext, false).deviceBytes;
        const std::uint64_t limit = 12 * kGiB - 512 * kMiB;
        const std::uint64_t over = fixed + 20'000'000'000ull - limit;
        const std::uint32_t cpu = std::uint32_t((over + 2'000'000'000 - 1) / 2'000'000'000);
        QCOMPARE(p.mode, PlacementMode::ExpertOffload);
        QCOMPARE(p.nGpuLayers, kLayers + 1);
        QCOMPARE(p.nCpuMoe, cpu);
        QCOMPARE(p.host.kvCacheBytes, std::uint64_t(0)); // the KV cache stays on the GPU
        QCOMPARE(p.llamaCommand,
                 QStringLiteral("llama-server -m m.gguf -ngl 11 --n-cpu-moe %1 -c 4096 -np 1")
                     .arg(cpu));
        QVERIFY(p.explanation.join(QLatin1Char(' '))
                    .contains(QStringLiteral("mixture-of-experts")));

        // A token reads 2 of 8 experts: a quarter of each layer's expert bytes.
        const SpeedEstimate e = estimateSpeed(m, s, w, p);
        const double gpuBytes = 10 * (200e6 + double(kv)) + (10 - cpu) * 0.5e9 + 250e6;
        const double cpuBytes = cpu * 0.5e9 + 8192;
        QVERIFY(near(e.gpuBytesPerToken, gpuBytes));
        QVERIFY(near(e.cpuBytesPerToken, cpuBytes));
        QVERIFY(near(e.generationTokensPerSecond, 1.0 / (gpuBytes / 500e9 + cpuBytes / 50e9)));
        QVERIFY(near(e.activeParams, 10 * (100e6 + 0.25 * 1e9) + 125e6));
    }

    void unifiedCountsTheGpuInRam()
    {
        const ModelShape s = denseShape();
        const WeightMap w = handMap(1'000'000'000, 0);
        const MachineProfile mac = *findMachinePreset(QStringLiteral("mac-studio-64"));
        const Placement p = planPlacement(mac, s, w, options());
        QCOMPARE(p.mode, PlacementMode::FullGpu);
        QCOMPARE(p.ramUsedBytes, p.host.totalBytes() + p.reserveBytes + p.gpu.totalBytes());
        // A model larger than the GPU limit but within RAM: layers move to the CPU side.
        const WeightMap big = handMap(5'000'000'000, 0);
        const Placement q = planPlacement(mac, s, big, options());
        QCOMPARE(q.mode, PlacementMode::LayerOffload);
        QVERIFY(q.gpu.totalBytes() <= mac.gpuLimitBytes());
        QVERIFY(q.ramUsedBytes <= mac.ramBytes);
        // Too big for the machine at all.
        const Placement none = planPlacement(mac, s, handMap(9'000'000'000, 0), options());
        QCOMPARE(none.mode, PlacementMode::DoesNotFit);
        QVERIFY(none.llamaCommand.isEmpty());
        QCOMPARE(estimateSpeed(mac, s, handMap(9'000'000'000, 0), none).generationTokensPerSecond,
                 0.0);
    }

    void cpuOnly()
    {
        const ModelShape s = denseShape();
        const WeightMap w = handMap(1'000'000'000, 0);
        const MachineProfile m = cpuOnlyMachine(32'000'000'000);
        const Placement p = planPlacement(m, s, w, options());
        QCOMPARE(p.mode, PlacementMode::CpuOnly);
        QCOMPARE(p.nGpuLayers, 0u);
        QCOMPARE(p.gpu.totalBytes(), std::uint64_t(0));
        QCOMPARE(p.host.computeBytes, computeBufferBytes(s, kContext, false));
        const SpeedEstimate e = estimateSpeed(m, s, w, p);
        const double bytes = 10 * (1e9 + double(kvCacheLayerBytes(s, 0, kContext,
                                                                   KvCacheType::F16)))
            + 250e6 + 8192;
        QVERIFY(near(e.generationTokensPerSecond, m.cpuBandwidth / bytes));
        QVERIFY(near(e.generationTokensPerSecond,
                     m.cpuBandwidth / bytesPerGeneratedToken(s, w, kContext, KvCacheType::F16)));
    }

    // The two-ceiling roofline of a CPU with measured per-type rates (speed.h), by hand:
    //   read     = bytes / bandwidth
    //   products = sum over types of bytes(type) / rate(type)  (the KV cache at the F16 rate)
    //   time     = max(read, products)
    void cpuRoofline()
    {
        const ModelShape s = denseShape();
        WeightMap w = handMap(1'000'000'000, 0);
        for (LayerWeights &l : w.layers) { // 0.6 GB Q4_K and 0.4 GB Q6_K per layer
            l.denseTypes.add(GgmlType::Q4_K, 600'000'000);
            l.denseTypes.add(GgmlType::Q6_K, 400'000'000);
        }
        w.outputTypes.add(GgmlType::Q6_K, 250'000'000);
        MachineProfile m = cpuOnlyMachine(32'000'000'000);
        m.cpuBandwidth = 40e9;
        const Placement p = planPlacement(m, s, w, options());
        QCOMPARE(p.mode, PlacementMode::CpuOnly);
        const double kv = 10 * double(kvCacheLayerBytes(s, 0, kContext, KvCacheType::F16));
        const double bytes = 10e9 + kv + 250e6 + 8192;

        // No measured rates (every preset): bytes / bandwidth, as before.
        const SpeedEstimate plain = estimateSpeed(m, s, w, p);
        QVERIFY(near(plain.generationTokensPerSecond, 40e9 / bytes));
        QCOMPARE(plain.cpuComputeSecondsPerToken, 0.0);

        // Slow products: compute-bound.
        m.cpuDotRates = {{GgmlType::Q4_K, 20e9}, {GgmlType::Q6_K, 25e9}, {GgmlType::F16, 50e9}};
        m.cpuDotThreads = 2;
        m.cpuDotSource = QStringLiteral("measured here");
        const double read = bytes / 40e9;
        double products = 6e9 / 20e9 + (4e9 + 250e6) / 25e9 + kv / 50e9;
        SpeedEstimate e = estimateSpeed(m, s, w, p);
        QVERIFY(products > read);
        QVERIFY(e.cpuComputeBound);
        QVERIFY(near(e.cpuMemorySecondsPerToken, read));
        QVERIFY(near(e.cpuComputeSecondsPerToken, products));
        QVERIFY(near(e.generationTokensPerSecond, 1.0 / products));
        const QString basis = e.basis.join(QLatin1Char(' '));
        QVERIFY2(basis.contains(QStringLiteral("compute-bound on this CPU")), qPrintable(basis));
        QVERIFY2(basis.contains(QStringLiteral("Q4_K rows at 20.0 GB/s with 2 threads")),
                 qPrintable(basis));

        // Fast products: memory-bound.
        m.cpuDotRates = {{GgmlType::Q4_K, 80e9}, {GgmlType::Q6_K, 100e9}, {GgmlType::F16, 100e9}};
        products = 6e9 / 80e9 + (4e9 + 250e6) / 100e9 + kv / 100e9;
        e = estimateSpeed(m, s, w, p);
        QVERIFY(!e.cpuComputeBound);
        QVERIFY(near(e.generationTokensPerSecond, 1.0 / read));
        QVERIFY(near(e.cpuComputeSecondsPerToken, products));
        QVERIFY(e.basis.join(QLatin1Char(' ')).contains(QStringLiteral("CPU: memory-bound")));

        // A type without a measured rate counts at the bandwidth only, and says so.
        m.cpuDotRates = {{GgmlType::Q4_K, 20e9}, {GgmlType::F16, 50e9}};
        products = 6e9 / 20e9 + kv / 50e9;
        e = estimateSpeed(m, s, w, p);
        QVERIFY(near(e.cpuComputeSecondsPerToken, products));
        QVERIFY(e.basis.join(QLatin1Char(' ')).contains(QStringLiteral("without a measured "
                                                                       "rate")));
    }

    // QuantFit's generation measured on the same file replaces the estimate, labelled; another
    // file, or a placement with a GPU, keeps the estimate.
    void measuredGenerationReplacesTheEstimate()
    {
        const ModelShape s = denseShape();
        const WeightMap w = handMap(1'000'000'000, 0);
        MachineProfile m = cpuOnlyMachine(32'000'000'000);
        m.measuredGeneration = {.modelFile = QStringLiteral("m.gguf"),
                                .tokensPerSecond = 3.5,
                                .bytesPerToken = 10e9,
                                .threads = 2,
                                .date = QStringLiteral("2026-12-03")};
        PlacementOptions o = options();
        o.modelFile = QStringLiteral("/models/m.gguf");
        MachineAdvice a = adviseFileOnMachine(m, s, w, QStringLiteral("Q4_K_M"), o);
        const SpeedEstimate &e = a.chosenLevel().speed;
        QVERIFY(e.generationMeasured);
        QCOMPARE(e.generationTokensPerSecond, 3.5);
        QVERIFY2(e.basis.front().startsWith(QStringLiteral("Generation measured here: 3.5 "
                                                           "tokens/s")),
                 qPrintable(e.basis.front()));

        o.modelFile = QStringLiteral("/models/other.gguf");
        a = adviseFileOnMachine(m, s, w, QStringLiteral("Q4_K_M"), o);
        QVERIFY(!a.chosenLevel().speed.generationMeasured);
        QVERIFY(a.chosenLevel().speed.generationTokensPerSecond != 3.5);

        MachineProfile gpu = discrete(24 * kGiB);
        gpu.measuredGeneration = m.measuredGeneration;
        o.modelFile = QStringLiteral("m.gguf");
        a = adviseFileOnMachine(gpu, s, w, QStringLiteral("Q4_K_M"), o);
        QVERIFY(a.chosenLevel().placement.nGpuLayers > 0);
        QVERIFY(!a.chosenLevel().speed.generationMeasured);
    }

    // With the compute ceiling measured, the detected machine reads at the streaming bandwidth
    // (the better of wall time and per CPU-second) x 0.85 and keeps the measured generation for
    // its own model instead of turning it into a bandwidth.
    void detectedMachineWithComputeCeiling()
    {
        SystemInfo system;
        system.totalRamBytes = 24'000'000'000;
        system.cpuThreads = 2;
        MeasuredSpeed measured;
        measured.readBytesPerSecond = 20e9;
        measured.readThreads = 2;
        measured.readBytesPerCpuSecond = 50e9;
        measured.readCpuThreads = 2;
        measured.generatedTokensPerSecond = 200;
        measured.bytesPerToken = 185'000'000;
        measured.generationModel = QStringLiteral("synth.gguf");
        measured.generationThreads = 2;
        measured.dotRates = {{QStringLiteral("q4_K"), 48e9}, {QStringLiteral("f16"), 85e9},
                             {QStringLiteral("no-such-type"), 1e9}};
        measured.dotThreads = 2;
        const MachineProfile m = detectedMachine(system, {}, measured);
        QVERIFY(near(m.cpuBandwidth, 50e9 * kMeasuredCpuBandwidthEfficiency));
        QVERIFY2(m.cpuBandwidthSource.contains(QStringLiteral("per CPU-second")),
                 qPrintable(m.cpuBandwidthSource));
        QCOMPARE(m.cpuDotRates.size(), std::size_t(2));
        QCOMPARE(m.cpuDotRate(GgmlType::Q4_K), 48e9);
        QCOMPARE(m.cpuDotRate(GgmlType::F16), 85e9);
        QCOMPARE(m.cpuDotRate(GgmlType::Q8_0), 0.0);
        QCOMPARE(m.cpuDotThreads, 2);
        QCOMPARE(m.measuredGeneration.modelFile, QStringLiteral("synth.gguf"));
        QCOMPARE(m.measuredGeneration.tokensPerSecond, 200.0);
    }

    // GLM-4.5-Air: config.json num_hidden_layers 46 and num_nextn_predict_layers 1; its GGUF
    // has block_count 47 (ggml-org/llama.cpp PR #14939's log). llama.cpp loads the NextN block
    // as its 47th layer but runs and caches only 46 (n_layer_kv_from_start = n_layer -
    // nextn_predict_layers), so: the file holds 47 blocks, the KV cache has 46 layers, a token
    // reads 46, and -ngl counts 47 (everything on the GPU is -ngl 48).
    void glmNextnBlock()
    {
        const ModelShape &air = Catalog::builtIn()->get(QStringLiteral("glm-4.5-air"));
        QCOMPARE(air.nLayers, 46u);
        QCOMPARE(air.nBlocks(), 47u);
        // K and V, 8 KV heads of 128, F16, 46 layers: 2 x 8 x 128 x 2 x 46 bytes per token.
        QCOMPARE(kvCacheBytes(air, 256, KvCacheType::F16), std::uint64_t(2 * 8 * 128 * 2 * 46) * 256);
        QCOMPARE(kvCacheLayerBytes(air, 46, 256, KvCacheType::F16), std::uint64_t(0));

        const WeightMap w = weightMapForShape(air, FileType::Q8_0);
        QCOMPARE(w.layers.size(), std::size_t(47));
        QVERIFY(w.layers[46].denseBytes > 0 && w.layers[46].expertBytes > 0);
        // Read per token: everything but the NextN block (and all of token_embd but a row).
        double run = double(w.outputBytes + w.inputRowBytes) + double(kvCacheBytes(air, 4096,
                                                                                    KvCacheType::F16));
        for (std::size_t i = 0; i < 46; ++i)
            run += double(w.layers[i].denseBytes) + double(w.layers[i].expertBytes) * 8 / 128;
        QVERIFY(near(bytesPerGeneratedToken(air, w, 4096, KvCacheType::F16), run));

        // A GPU that holds it all: -ngl 48 (47 blocks and the output layer).
        MachineProfile big = discrete(400 * kGiB);
        big.ramBytes = 256'000'000'000;
        const Placement p = planPlacement(big, air, w, options());
        QCOMPARE(p.mode, PlacementMode::FullGpu);
        QCOMPARE(p.nGpuLayers, 48u);
        QVERIFY(p.outputOnGpu());
        QVERIFY2(p.llamaCommand.contains(QStringLiteral(" -ngl 48 ")), qPrintable(p.llamaCommand));
        QCOMPARE(p.gpu.weightsBytes, w.totalBytes() - w.inputBytes);
        QCOMPARE(p.gpu.kvCacheBytes, kvCacheBytes(air, kContext, KvCacheType::F16));
        QVERIFY(p.explanation.join(QLatin1Char(' ')).contains(
            QStringLiteral("llama.cpp counts 47 layers for -ngl: the 46 that run and 1 "
                           "multi-token-prediction block")));
        // -ngl 1 puts the NextN block (the last layer) on the GPU, no run layer.
        MachineProfile small = discrete(8 * kGiB);
        small.ramBytes = 256'000'000'000;
        const Placement one = planPlacement(small, air, w, options());
        QVERIFY(one.layerOnGpu(46));
        QCOMPARE(one.nLayers, 47u);
    }

    // The same from an opened GGUF: block_count 3 with nextn_predict_layers 1 runs and caches
    // 2 layers, and the weight map keeps the third block as a layer of its own. (A small
    // glm4moe shape written by our writer, zero-filled: only the header is read.)
    void glmNextnFromGguf()
    {
        ModelShape s = Catalog::builtIn()->get(QStringLiteral("glm-4.5-air"));
        s.nLayers = 2;
        s.nNextnLayers = 1;
        s.nEmbd = 256;
        s.nFf = 512;
        s.nFfExpert = 256;
        s.nFfShared = 256;
        s.nExperts = 4;
        s.nExpertsUsed = 2;
        s.nHeads = 2;
        s.nHeadsKv = 1;
        s.headDim = 128;
        s.nVocab = 512;
        s.nDenseLeadLayers = 1;
        s.nMerges = 0;
        s.paramsBillions = 0;
        s.activeParamsBillions = 0;
        const ShapeTensors st = buildShapeTensors(s);
        QCOMPARE(st.metadata.uintOr("glm4moe.block_count", 0), 3ull);
        QTemporaryDir dir;
        const QString path = dir.filePath(QStringLiteral("glm-small.gguf"));
        {
            GgufLayout layout;
            layout.metadata = st.metadata;
            layout.tensors = st.tensors;
            layout.finalize();
            GgufWriter writer(path, layout);
            for (const GgufTensorInfo &t : layout.tensors)
                writer.writeTensorData(std::vector<std::uint8_t>(t.nBytes, 0));
            writer.commit();
        }
        const GgufFile file = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
        AdviceOptions o;
        o.ramBytes = 64'000'000'000;
        const ModelAdvice a = Advisor().adviseGguf(file, o);
        QCOMPARE(a.model.nLayers, 2u);
        QCOMPARE(a.model.nNextnLayers, 1u);
        // K and V of one 128-wide KV head, F16, for the 2 layers that run.
        QCOMPARE(a.kvBytesPerToken, double(2 * 1 * 128 * 2 * 2));
        const WeightMap w = weightMapForFile(file, a.model.nLayers);
        QCOMPARE(w.layers.size(), std::size_t(3));
        QVERIFY(w.layers[2].expertBytes > 0);
        const Placement p = planPlacement(discrete(8 * kGiB), a.model, w, options());
        QCOMPARE(p.nGpuLayers, 4u); // 3 blocks and the output layer
    }

    void badInput()
    {
        PlacementOptions o = options();
        o.contextTokens = 0;
        QVERIFY_THROWS_EXCEPTION(Error, planPlacement(discrete(8 * kGiB), denseShape(),
                                                      handMap(1, 0), o));
        WeightMap wrong = handMap(1, 0);
        wrong.layers.pop_back();
        QVERIFY_THROWS_EXCEPTION(Error,
                                 planPlacement(discrete(8 * kGiB), denseShape(), wrong, options()));
    }

    // The scenarios on catalog models.
    void catalogScenarios()
    {
        const auto catalog = Catalog::builtIn();
        PlacementOptions o;
        o.contextTokens = 8192;
        o.nSlots = 1;

        const ModelShape &oss = catalog->get(QStringLiteral("gpt-oss-120b"));
        const MachineAdvice strix =
            adviseOnMachine(*findMachinePreset(QStringLiteral("strix-halo-128")), oss, o);
        QCOMPARE(strix.chosenLevel().fileType, FileType::MXFP4_MOE);
        QCOMPARE(strix.chosenLevel().placement.mode, PlacementMode::FullGpu);
        QCOMPARE(strix.chosenLevel().placement.nGpuLayers, oss.nLayers + 1);
        // OpenAI's model card: 5.1B active parameters per token (embeddings not counted).
        QVERIFY(std::abs(strix.chosenLevel().speed.activeParams / 5.13e9 - 1) < 0.03);
        QVERIFY(strix.moeNote.contains(QStringLiteral("read per token")));

        const ModelShape &qwen = catalog->get(QStringLiteral("qwen3-30b-a3b"));
        const MachineAdvice mac =
            adviseOnMachine(*findMachinePreset(QStringLiteral("mac-studio-64")), qwen, o);
        QCOMPARE(mac.chosenLevel().placement.mode, PlacementMode::FullGpu);
        // Qwen's model card: 3.3B activated, embeddings included.
        const WeightMap qw = weightMapForShape(qwen, FileType::Q4_K_M);
        QVERIFY(std::abs((activeParameters(qwen, qw) + double(qw.inputParams)) / 3.3e9 - 1)
                < 0.03);

        const MachineProfile pc = *findMachinePreset(QStringLiteral("pc-64gb-gpu24"));
        const MachineAdvice air =
            adviseOnMachine(pc, catalog->get(QStringLiteral("glm-4.5-air")), o);
        QCOMPARE(air.chosenLevel().placement.mode, PlacementMode::ExpertOffload);
        QVERIFY(air.chosenLevel().placement.nCpuMoe > 0);
        QVERIFY(air.chosenLevel().placement.llamaCommand.contains(QStringLiteral("--n-cpu-moe")));

        const ModelShape &llama = catalog->get(QStringLiteral("llama-3.1-70b"));
        const MachineAdvice dense = adviseOnMachine(pc, llama, o);
        QCOMPARE(dense.chosenLevel().placement.mode, PlacementMode::LayerOffload);
        QVERIFY(dense.chosenLevel().placement.nGpuLayers < llama.nLayers);
        QVERIFY(!dense.chosenLevel().placement.llamaCommand.contains(QStringLiteral("n-cpu-moe")));
        // Fewer layers on the GPU leave room for a longer context there; the advice says so.
        QVERIFY(dense.chosenLevel().placement.explanation.join(QLatin1Char(' ')).contains(
            QStringLiteral("For more context, move a little more to RAM: -ngl ")));

        // The 30B-A3B MoE on the same PC: on the GPU, with expert offload named for Q6_K/Q8_0.
        const MachineAdvice moe = adviseOnMachine(pc, qwen, o);
        QCOMPARE(moe.chosenLevel().placement.mode, PlacementMode::FullGpu);
        QVERIFY(moe.chosenReason.contains(QStringLiteral("expert offload")));
        const auto q8 = std::find_if(moe.levels.begin(), moe.levels.end(), [](const auto &l) {
            return l.fileType == FileType::Q8_0;
        });
        QVERIFY(q8 != moe.levels.end());
        QCOMPARE(q8->placement.mode, PlacementMode::ExpertOffload);
    }
};

QTEST_APPLESS_MAIN(TestAdvisorMachine)
#include "testadvisormachine.moc"
