#include "tinymodel.h"

#include "gguf/ggufwriter.h"
#include "util/fp16.h"

#include <cmath>
#include <cstring>
#include <random>

namespace QuantFit::Test {

namespace {

struct Builder {
    GgufLayout layout;
    std::vector<QByteArray> data;
    TinyModel model;
    std::mt19937 rng;

    void add(const QByteArray &name, int nIn, int nOut, double scale, GgmlType type, double bias = 0)
    {
        std::uniform_real_distribution<double> dist(-scale, scale);
        std::vector<double> values(std::size_t(nIn) * std::size_t(nOut));
        for (auto &v : values)
            v = bias + dist(rng);
        QByteArray bytes;
        if (type == GgmlType::F16) {
            bytes.resize(qsizetype(values.size() * 2));
            auto *h = reinterpret_cast<std::uint16_t *>(bytes.data());
            for (std::size_t i = 0; i < values.size(); ++i) {
                h[i] = fp32ToFp16(float(values[i]));
                values[i] = fp16ToFp32(h[i]);
            }
        } else {
            bytes.resize(qsizetype(values.size() * 4));
            auto *f = reinterpret_cast<float *>(bytes.data());
            for (std::size_t i = 0; i < values.size(); ++i) {
                f[i] = float(values[i]);
                values[i] = f[i];
            }
        }
        GgufTensorInfo info;
        info.name = name;
        info.nDims = nOut == 1 ? 1 : 2;
        info.ne = {std::uint64_t(nIn), std::uint64_t(nOut), 1, 1};
        info.type = type;
        layout.tensors.push_back(info);
        data.push_back(bytes);
        model.w[name] = std::move(values);
    }
};

} // namespace

TinyModel writeTinyModel(const QString &path, const TinyConfig &c)
{
    Builder b;
    b.rng.seed(c.seed);
    b.model.cfg = c;
    auto &md = b.layout.metadata;
    const QByteArray a = c.arch;
    const int headDim = c.nEmbd / c.nHeads;
    md.set("general.architecture", GgufValue::fromString(a));
    md.set(a + ".context_length", GgufValue::u32(std::uint32_t(c.nCtx)));
    md.set(a + ".embedding_length", GgufValue::u32(std::uint32_t(c.nEmbd)));
    md.set(a + ".block_count", GgufValue::u32(std::uint32_t(c.nLayers)));
    md.set(a + ".feed_forward_length", GgufValue::u32(std::uint32_t(c.nFf)));
    md.set(a + ".rope.dimension_count", GgufValue::u32(std::uint32_t(headDim)));
    md.set(a + ".attention.head_count", GgufValue::u32(std::uint32_t(c.nHeads)));
    md.set(a + ".attention.head_count_kv", GgufValue::u32(std::uint32_t(c.nHeadsKv)));
    md.set(a + ".attention.layer_norm_rms_epsilon", GgufValue::f32(c.eps));
    md.set(a + ".rope.freq_base", GgufValue::f32(float(c.freqBase)));
    if (c.ropeScale > 0) {
        md.set(a + ".rope.scaling.type", GgufValue::fromString(QByteArray("linear")));
        md.set(a + ".rope.scaling.factor", GgufValue::f32(float(c.ropeScale)));
    }

    const int qDim = c.nHeads * headDim;
    const int kvDim = c.nHeadsKv * headDim;
    const double s = 1.0 / std::sqrt(double(c.nEmbd));
    b.add("token_embd.weight", c.nEmbd, c.nVocab, 1.0, c.type);
    b.add("output_norm.weight", c.nEmbd, 1, 0.2, GgmlType::F32, 1.0);
    if (!c.tied)
        b.add("output.weight", c.nEmbd, c.nVocab, 3 * s, c.type);
    if (c.ropeFreqs)
        b.add("rope_freqs.weight", headDim / 2, 1, 1.5, GgmlType::F32, 2.5);
    for (int l = 0; l < c.nLayers; ++l) {
        const QByteArray p = "blk." + QByteArray::number(l) + '.';
        b.add(p + "attn_norm.weight", c.nEmbd, 1, 0.2, GgmlType::F32, 1.0);
        b.add(p + "attn_q.weight", c.nEmbd, qDim, 2 * s, c.type);
        b.add(p + "attn_k.weight", c.nEmbd, kvDim, 2 * s, c.type);
        b.add(p + "attn_v.weight", c.nEmbd, kvDim, 2 * s, c.type);
        if (c.biases) {
            b.add(p + "attn_q.bias", qDim, 1, 0.5, GgmlType::F32);
            b.add(p + "attn_k.bias", kvDim, 1, 0.5, GgmlType::F32);
            b.add(p + "attn_v.bias", kvDim, 1, 0.5, GgmlType::F32);
        }
        b.add(p + "attn_output.weight", qDim, c.nEmbd, s, c.type);
        b.add(p + "ffn_norm.weight", c.nEmbd, 1, 0.2, GgmlType::F32, 1.0);
        b.add(p + "ffn_gate.weight", c.nEmbd, c.nFf, 2 * s, c.type);
        b.add(p + "ffn_up.weight", c.nEmbd, c.nFf, 2 * s, c.type);
        b.add(p + "ffn_down.weight", c.nFf, c.nEmbd, 1.0 / std::sqrt(double(c.nFf)), c.type);
    }
    b.layout.finalize();
    writeGgufFile(path, b.layout, b.data);
    return b.model;
}

//
// reference forward pass (double precision, one token at a time, full recomputation)
//

namespace {

using Vec = std::vector<double>;

Vec matVec(const Vec &w, int nIn, int nOut, const Vec &x)
{
    Vec y(std::size_t(nOut), 0.0);
    for (int o = 0; o < nOut; ++o) {
        double s = 0;
        for (int i = 0; i < nIn; ++i)
            s += w[std::size_t(o) * nIn + i] * x[std::size_t(i)];
        y[std::size_t(o)] = s;
    }
    return y;
}

Vec rmsNorm(const Vec &x, const Vec &g, double eps)
{
    double ss = 0;
    for (double v : x)
        ss += v * v;
    const double r = 1.0 / std::sqrt(ss / double(x.size()) + eps);
    Vec y(x.size());
    for (std::size_t i = 0; i < x.size(); ++i)
        y[i] = x[i] * r * g[i];
    return y;
}

void rope(Vec &v, int nHeads, int headDim, int pos, bool neox, double base, double freqScale,
          const Vec *factors)
{
    for (int h = 0; h < nHeads; ++h) {
        for (int i = 0; i < headDim / 2; ++i) {
            double theta = pos * std::pow(base, -2.0 * i / headDim);
            if (factors)
                theta /= (*factors)[std::size_t(i)];
            theta *= freqScale;
            const int i0 = neox ? i : 2 * i;
            const int i1 = neox ? i + headDim / 2 : 2 * i + 1;
            double &a = v[std::size_t(h * headDim + i0)];
            double &b = v[std::size_t(h * headDim + i1)];
            const double na = a * std::cos(theta) - b * std::sin(theta);
            const double nb = a * std::sin(theta) + b * std::cos(theta);
            a = na;
            b = nb;
        }
    }
}

} // namespace

std::vector<std::vector<double>> referenceForward(const TinyModel &m,
                                                  const std::vector<std::int32_t> &tokens)
{
    const TinyConfig &c = m.cfg;
    const int headDim = c.nEmbd / c.nHeads;
    const int qDim = c.nHeads * headDim;
    const int kvDim = c.nHeadsKv * headDim;
    const bool neox = c.arch == "qwen2";
    const double freqScale = c.ropeScale > 0 ? 1.0 / c.ropeScale : 1.0;
    const Vec *factors = c.ropeFreqs ? &m.w.at("rope_freqs.weight") : nullptr;
    const auto W = [&](const QByteArray &name) -> const Vec & { return m.w.at(name); };

    std::vector<std::vector<Vec>> keys(std::size_t(c.nLayers)), values(std::size_t(c.nLayers));
    std::vector<std::vector<double>> logits;
    for (std::size_t pos = 0; pos < tokens.size(); ++pos) {
        const Vec &emb = W("token_embd.weight");
        Vec x(emb.begin() + std::ptrdiff_t(tokens[pos]) * c.nEmbd,
              emb.begin() + std::ptrdiff_t(tokens[pos] + 1) * c.nEmbd);
        for (int l = 0; l < c.nLayers; ++l) {
            const QByteArray p = "blk." + QByteArray::number(l) + '.';
            const Vec h = rmsNorm(x, W(p + "attn_norm.weight"), c.eps);
            Vec q = matVec(W(p + "attn_q.weight"), c.nEmbd, qDim, h);
            Vec k = matVec(W(p + "attn_k.weight"), c.nEmbd, kvDim, h);
            Vec v = matVec(W(p + "attn_v.weight"), c.nEmbd, kvDim, h);
            if (c.biases) {
                for (int i = 0; i < qDim; ++i)
                    q[std::size_t(i)] += W(p + "attn_q.bias")[std::size_t(i)];
                for (int i = 0; i < kvDim; ++i) {
                    k[std::size_t(i)] += W(p + "attn_k.bias")[std::size_t(i)];
                    v[std::size_t(i)] += W(p + "attn_v.bias")[std::size_t(i)];
                }
            }
            rope(q, c.nHeads, headDim, int(pos), neox, c.freqBase, freqScale, factors);
            rope(k, c.nHeadsKv, headDim, int(pos), neox, c.freqBase, freqScale, factors);
            keys[std::size_t(l)].push_back(k);
            values[std::size_t(l)].push_back(v);
            Vec att(std::size_t(qDim), 0.0);
            for (int hq = 0; hq < c.nHeads; ++hq) {
                const int kvh = hq / (c.nHeads / c.nHeadsKv);
                Vec s(pos + 1);
                double mx = -1e300;
                for (std::size_t j = 0; j <= pos; ++j) {
                    double d = 0;
                    for (int i = 0; i < headDim; ++i)
                        d += q[std::size_t(hq * headDim + i)]
                            * keys[std::size_t(l)][j][std::size_t(kvh * headDim + i)];
                    s[j] = d / std::sqrt(double(headDim));
                    mx = std::max(mx, s[j]);
                }
                double sum = 0;
                for (double &e : s) {
                    e = std::exp(e - mx);
                    sum += e;
                }
                for (std::size_t j = 0; j <= pos; ++j)
                    for (int i = 0; i < headDim; ++i)
                        att[std::size_t(hq * headDim + i)] +=
                            s[j] / sum * values[std::size_t(l)][j][std::size_t(kvh * headDim + i)];
            }
            const Vec a = matVec(W(p + "attn_output.weight"), qDim, c.nEmbd, att);
            for (int i = 0; i < c.nEmbd; ++i)
                x[std::size_t(i)] += a[std::size_t(i)];
            const Vec h2 = rmsNorm(x, W(p + "ffn_norm.weight"), c.eps);
            Vec g = matVec(W(p + "ffn_gate.weight"), c.nEmbd, c.nFf, h2);
            const Vec u = matVec(W(p + "ffn_up.weight"), c.nEmbd, c.nFf, h2);
            for (int i = 0; i < c.nFf; ++i)
                g[std::size_t(i)] = g[std::size_t(i)] / (1.0 + std::exp(-g[std::size_t(i)]))
                    * u[std::size_t(i)];
            const Vec f = matVec(W(p + "ffn_down.weight"), c.nFf, c.nEmbd, g);
            for (int i = 0; i < c.nEmbd; ++i)
                x[std::size_t(i)] += f[std::size_t(i)];
        }
        const Vec hn = rmsNorm(x, W("output_norm.weight"), c.eps);
        logits.push_back(matVec(W(c.tied ? "token_embd.weight" : "output.weight"), c.nEmbd,
                                c.nVocab, hn));
    }
    return logits;
}

} // namespace QuantFit::Test
