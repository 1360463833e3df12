// Expert routing, the activations of the newer architectures and the one-row flash-attention
// kernel, against values computed by hand from their definitions (llama.cpp: src/llama-graph.cpp build_moe_ffn, ggml glu ops).

#include "infer/archparts.h"
#include "infer/kernels.h"
#include "infer/moe.h"

#include "codecs/quantkernels.h"
#include "util/fp16.h"

#include <QTest>

#include <cmath>
#include <cstring>
#include <random>

using namespace QuantFit;
using namespace QuantFit::Infer;

namespace {

double sigmoid(double x)
{
    return 1.0 / (1.0 + std::exp(-x));
}

double geluTanh(double x)
{
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * x * (1.0 + 0.044715 * x * x)));
}

// A 3-D expert stack of `nExperts` random [nIn -> nOut] matrices in `type`, rows contiguous.
struct Stack {
    std::vector<std::uint8_t> data;
    ExpertTensor t;
};

Stack makeStack(GgmlType type, int nIn, int nOut, int nExperts, std::uint32_t seed)
{
    std::mt19937 rng(seed);
    std::student_t_distribution<float> dist(4.f);
    const std::size_t rowBytes = QuantFit::rowBytes(typeFacts(type), nIn);
    Stack s;
    s.data.resize(rowBytes * std::size_t(nOut) * std::size_t(nExperts));
    std::vector<float> row(static_cast<std::size_t>(nIn));
    for (std::size_t r = 0; r < std::size_t(nOut) * std::size_t(nExperts); ++r) {
        for (auto &v : row)
            v = dist(rng) * 0.05f;
        quantizeRow(type, row, std::span(s.data).subspan(r * rowBytes, rowBytes));
    }
    s.t.all = {.name = "blk.0.ffn_x_exps.weight", .type = type, .data = s.data.data(),
               .nIn = nIn, .nOut = nOut, .rowBytes = rowBytes};
    s.t.nExperts = nExperts;
    return s;
}

} // namespace

class TestInferMoe : public QObject
{
    Q_OBJECT

private slots:
    // softmax gating: probabilities over all experts, the two largest, renormalised:
    // logits (1, 3, 2, 0) -> experts 1 and 2, weights e^3 / (e^3 + e^2) and e^2 / (e^3 + e^2).
    void softmaxGatingRenormalises()
    {
        const float logits[] = {1, 3, 2, 0};
        int sel[2];
        float w[2];
        routeTokens(logits, 1, 4, 2, ExpertGating::Softmax, true, sel, w);
        QCOMPARE(sel[0], 1);
        QCOMPARE(sel[1], 2);
        QVERIFY(std::abs(w[0] - sigmoid(1.0)) < 1e-6);
        QVERIFY(std::abs(w[1] - sigmoid(-1.0)) < 1e-6);
    }

    // Without renormalisation the weights are the probabilities over all experts.
    void softmaxGatingWithoutNorm()
    {
        const float logits[] = {1, 3, 2, 0};
        int sel[2];
        float w[2];
        routeTokens(logits, 1, 4, 2, ExpertGating::Softmax, false, sel, w);
        const double z = std::exp(0.0) + std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
        QVERIFY(std::abs(w[0] - std::exp(3.0) / z) < 1e-6);
        QVERIFY(std::abs(w[1] - std::exp(2.0) / z) < 1e-6);
    }

    // gpt-oss: top-k of the raw logits, softmax over the selected ones only.
    void softmaxWeightGating()
    {
        const float logits[] = {1, 3, 2, 0, -5, 2.5f}; // two tokens of three experts
        int sel[4];
        float w[4];
        routeTokens(logits, 2, 3, 2, ExpertGating::SoftmaxWeight, false, sel, w);
        QCOMPARE(sel[0], 1);
        QCOMPARE(sel[1], 2);
        QVERIFY(std::abs(w[0] - sigmoid(1.0)) < 1e-6);
        QCOMPARE(sel[2], 2);
        QCOMPARE(sel[3], 0);
        QVERIFY(std::abs(w[2] - sigmoid(2.5)) < 1e-6);
        QVERIFY(std::abs(w[3] - sigmoid(-2.5)) < 1e-6);
    }

    // Exact ties go to the lower expert index (deterministic where llama.cpp leaves the order open).
    void tiesPreferTheLowerIndex()
    {
        const float logits[] = {2, 2, 1, 2};
        int sel[2];
        float w[2];
        routeTokens(logits, 1, 4, 2, ExpertGating::Softmax, true, sel, w);
        QCOMPARE(sel[0], 0);
        QCOMPARE(sel[1], 1);
        QCOMPARE(w[0], 0.5f);
    }

    // swiglu_oai: min(g, 7) * sigmoid(1.702 min(g, 7)) * (clamp(u, -7, 7) + 1).
    void swigluOaiClamps()
    {
        float g[] = {8.0f, -3.0f, 0.5f};
        const float u[] = {-9.0f, 2.0f, 10.0f};
        swigluOai(g, u, 3);
        const double want[] = {7.0 * sigmoid(1.702 * 7.0) * -6.0, -3.0 * sigmoid(1.702 * -3.0) * 3.0,
                               0.5 * sigmoid(1.702 * 0.5) * 8.0};
        for (int i = 0; i < 3; ++i)
            QVERIFY2(std::abs(g[i] - want[i]) < 1e-5 * std::max(1.0, std::abs(want[i])),
                     qPrintable(QStringLiteral("%1: %2 vs %3").arg(i).arg(g[i]).arg(want[i])));
    }

    // GeGLU through the F16 table: 0 at or below -10, the identity at or above 10, otherwise
    // gelu of the F16-rounded input, rounded to F16.
    void gegluUsesTheF16Table()
    {
        float g[] = {-12.0f, 11.0f, 1.0f, 0.3f, -2.0f};
        const float u[] = {3.0f, 2.0f, 1.0f, 1.0f, 2.0f};
        gegluF16(g, u, 5);
        QCOMPARE(g[0], 0.0f);
        QCOMPARE(g[1], 22.0f);
        // 1.0 is exact in F16; gelu(1) = 0.841192, in F16 0.84130859375 (spacing 2^-11).
        QCOMPARE(g[2], 0.84130859375f);
        QVERIFY(std::abs(g[2] - geluTanh(1.0)) < 2.5e-4);
        const double x3 = double(fp16ToFp32(fp32ToFp16(0.3f)));
        QVERIFY(std::abs(g[3] - geluTanh(x3)) < 1.5e-4);
        QVERIFY(std::abs(g[4] - 2.0 * geluTanh(-2.0)) < 1e-4);
    }

    // A sink takes probability without a value: two equal scores and a sink of equal logit get
    // a third each.
    void sinkTakesProbability()
    {
        float x[] = {0.0f, 0.0f};
        softmaxWithSink(x, 2, 0.0f);
        QVERIFY(std::abs(x[0] - 1.0 / 3.0) < 1e-7);
        QVERIFY(std::abs(x[1] - 1.0 / 3.0) < 1e-7);
        float y[] = {std::log(3.0f), 0.0f};
        softmaxWithSink(y, 2, std::log(4.0f)); // e^s: 3, 1 and the sink 4
        QVERIFY(std::abs(y[0] - 3.0 / 8.0) < 1e-7);
        QVERIFY(std::abs(y[1] - 1.0 / 8.0) < 1e-7);
    }

    // The one-row flash-attention kernel keeps the value sum in F16: scores (0, ln 3) over values
    // (1, 1) give 1 exactly in real arithmetic, but the accumulator holds fp16(1/3) =
    // 0.333251953125 after the rescale, then fp16(1.333251953125) = 1.3330078125 (steps of
    // 2^-10), and 1.3330078125 / (4/3) = 0.999755859375.
    void flashRowAccumulatesInF16()
    {
        const float scores[] = {0.0f, std::log(3.0f)};
        const std::uint16_t v[] = {fp32ToFp16(1.0f), fp32ToFp16(1.0f)};
        float out = 0;
        flashAttnRowF16(scores, 2, v, 2, 1, nullptr, &out);
        QVERIFY2(std::abs(out - 0.999755859375) < 1e-7, qPrintable(QString::number(out, 'g', 10)));
    }

    // The sink joins the sum after the keys: one key of score 0 and value 2 with a sink of
    // ln 3 gives 2 * 1 / (1 + 3) = 0.5.
    void flashRowFoldsInTheSink()
    {
        const float scores[] = {0.0f};
        const std::uint16_t v[] = {fp32ToFp16(2.0f), fp32ToFp16(-4.0f)}; // two value dims
        const float sink = std::log(3.0f);
        float out[2] = {};
        flashAttnRowF16(scores, 1, v, 1, 2, &sink, out);
        QVERIFY(std::abs(out[0] - 0.5) < 1e-6);
        QVERIFY(std::abs(out[1] + 1.0) < 1e-6);
    }

    // The grouped expert block (all routed experts' products in shared parallel regions, one
    // quantized copy of a shared input) gives bit for bit what its definition gives when each
    // token's experts run one product at a time through matmul(): route, gate and up products,
    // SwiGLU, down product, weighted, summed over the slots in order.
    void expertBlockMatchesOneProductAtATime_data()
    {
        QTest::addColumn<int>("nTokens");
        QTest::addColumn<int>("nThreads");
        QTest::newRow("generation, 1 thread") << 1 << 1;
        QTest::newRow("generation, 2 threads") << 1 << 2;
        QTest::newRow("3 tokens, 2 threads") << 3 << 2;
    }
    void expertBlockMatchesOneProductAtATime()
    {
        QFETCH(int, nTokens);
        QFETCH(int, nThreads);
        constexpr int nEmbd = 512, nFf = 256, nExperts = 8, k = 3;
        const Stack gate = makeStack(GgmlType::Q4_K, nEmbd, nFf, nExperts, 1);
        const Stack up = makeStack(GgmlType::Q4_K, nEmbd, nFf, nExperts, 2);
        const Stack down = makeStack(GgmlType::Q6_K, nFf, nEmbd, nExperts, 3);
        std::vector<float> router(std::size_t(nEmbd) * nExperts);
        std::mt19937 rng(4);
        std::normal_distribution<float> normal(0.f, 1.f);
        for (auto &v : router)
            v = normal(rng) * 0.1f;
        std::vector<float> h(std::size_t(nEmbd) * std::size_t(nTokens));
        for (auto &v : h)
            v = normal(rng);

        LlamaModel::Layer layer;
        layer.router = {.name = "blk.0.ffn_gate_inp.weight", .type = GgmlType::F32,
                        .data = reinterpret_cast<const std::uint8_t *>(router.data()),
                        .nIn = nEmbd, .nOut = nExperts, .rowBytes = sizeof(float) * nEmbd};
        layer.gateExps = gate.t;
        layer.upExps = up.t;
        layer.downExps = down.t;
        LlamaHParams hp;
        hp.nEmbd = nEmbd;
        hp.nExperts = nExperts;
        hp.nExpertsUsed = k;
        const ArchParts &parts = *archPartsFor(QStringLiteral("qwen3moe"));
        const MatmulOptions mm{.nThreads = nThreads};
        std::vector<float> out(h.size());
        MoeScratch scratch;
        moeFeedForward({.layer = layer, .hp = hp, .parts = parts, .matmul = mm}, h.data(),
                       nTokens, out.data(), scratch);

        for (int t = 0; t < nTokens; ++t) {
            const float *x = h.data() + std::size_t(t) * nEmbd;
            std::vector<float> logits(nExperts), weights(k), g(nFf), u(nFf), y(nEmbd);
            std::vector<int> selected(k);
            matmul(layer.router, x, 1, logits.data(), mm);
            routeTokens(logits.data(), 1, nExperts, k, parts.gating,
                        parts.normalizeExpertWeights, selected.data(), weights.data());
            std::vector<float> expected(nEmbd, 0.f);
            for (int slot = 0; slot < k; ++slot) {
                const int e = selected[std::size_t(slot)];
                matmul(gate.t.expert(e), x, 1, g.data(), mm);
                matmul(up.t.expert(e), x, 1, u.data(), mm);
                applyGlu(parts.ffn, g.data(), u.data(), nFf);
                matmul(down.t.expert(e), g.data(), 1, y.data(), mm);
                for (int i = 0; i < nEmbd; ++i)
                    expected[std::size_t(i)] = slot == 0 ? y[std::size_t(i)] * weights[0]
                        : expected[std::size_t(i)] + y[std::size_t(i)] * weights[std::size_t(slot)];
            }
            QCOMPARE(std::memcmp(out.data() + std::size_t(t) * nEmbd, expected.data(),
                                 sizeof(float) * nEmbd), 0);
        }
    }
};

QTEST_APPLESS_MAIN(TestInferMoe)
#include "testinfermoe.moc"
