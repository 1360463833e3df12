// Expert routing, the activations of the newer architectures and the one-row flash-attention
// kernel, against values computed by hand from their definitions (llama.cpp: src/llama-graph.cpp build_moe_ffn, ggml glu ops).

#include "infer/kernels.h"
#include "infer/moe.h"

#include "util/fp16.h"

#include <QTest>

#include <cmath>

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
};

QTEST_APPLESS_MAIN(TestInferMoe)
#include "testinfermoe.moc"
