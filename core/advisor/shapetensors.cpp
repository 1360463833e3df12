#include "shapetensors.h"

#include "catalog/catalog.h"

#include <algorithm>

namespace QuantFit {

namespace {

class Builder
{
public:
    explicit Builder(ShapeTensors &out) : m_out(out) {}

    void add(const QByteArray &name, GgmlType type, std::uint64_t ne0, std::uint64_t ne1 = 1,
             std::uint64_t ne2 = 1)
    {
        GgufTensorInfo t;
        t.name = name;
        t.ne = {ne0, ne1, ne2, 1};
        t.nDims = t.effectiveDims();
        t.type = type;
        t.nBytes = tensorBytes(type, t.ne);
        m_out.nParams += t.nElements();
        m_out.tensors.push_back(std::move(t));
    }
    void weight(const QByteArray &name, std::uint64_t ne0, std::uint64_t ne1, std::uint64_t ne2 = 1)
    {
        add(name, GgmlType::F16, ne0, ne1, ne2);
    }
    void vector(const QByteArray &name, std::uint64_t n) { add(name, GgmlType::F32, n); }

private:
    ShapeTensors &m_out;
};

QByteArray blk(std::uint32_t layer, const char *what)
{
    return "blk." + QByteArray::number(layer) + '.' + what;
}

} // namespace

ShapeTensors buildShapeTensors(const ModelShape &s)
{
    validateShape(s, s.id);
    ShapeTensors out;
    Builder b(out);
    const QString &arch = s.architecture;
    const bool gemma = arch.startsWith(QLatin1String("gemma"));
    const bool phi3 = arch == QLatin1String("phi3");
    const bool commandR = arch == QLatin1String("command-r");
    const bool qkNorm = arch == QLatin1String("qwen3") || arch == QLatin1String("qwen3moe")
                        || arch == QLatin1String("gemma3");

    b.weight("token_embd.weight", s.nEmbd, s.nVocab);
    b.vector("output_norm.weight", s.nEmbd);
    if (!s.tiedEmbeddings)
        b.weight("output.weight", s.nEmbd, s.nVocab);
    if (s.ropeFreqs)
        b.vector("rope_freqs.weight", s.headDim / 2);
    if (phi3 && s.nCtxMax > 4096 * 8) {
        // LongRoPE models (Phi-3.5 mini 128k) carry both factor sets.
        b.vector("rope_factors_long.weight", s.headDim / 2);
        b.vector("rope_factors_short.weight", s.headDim / 2);
    }

    for (std::uint32_t i = 0; i < s.nLayers; ++i) {
        b.vector(blk(i, "attn_norm.weight"), s.nEmbd);
        if (phi3) {
            b.weight(blk(i, "attn_qkv.weight"), s.nEmbd, s.qDim() + 2 * s.kvDim());
        } else {
            b.weight(blk(i, "attn_q.weight"), s.nEmbd, s.qDim());
            b.weight(blk(i, "attn_k.weight"), s.nEmbd, s.kvDim());
            b.weight(blk(i, "attn_v.weight"), s.nEmbd, s.kvDim());
        }
        if (s.qkvBias) {
            b.vector(blk(i, "attn_q.bias"), s.qDim());
            b.vector(blk(i, "attn_k.bias"), s.kvDim());
            b.vector(blk(i, "attn_v.bias"), s.kvDim());
        }
        if (qkNorm) {
            b.vector(blk(i, "attn_q_norm.weight"), s.headDim);
            b.vector(blk(i, "attn_k_norm.weight"), s.headDim);
        }
        b.weight(blk(i, "attn_output.weight"), s.qDim(), s.nEmbd);
        if (gemma)
            b.vector(blk(i, "post_attention_norm.weight"), s.nEmbd);
        if (!commandR) // Command R runs attention and FFN in parallel off one norm
            b.vector(blk(i, "ffn_norm.weight"), s.nEmbd);
        if (s.isMoe()) {
            // The router stays F32 in conversions; experts are stacked 3-D tensors.
            b.add(blk(i, "ffn_gate_inp.weight"), GgmlType::F32, s.nEmbd, s.nExperts);
            b.weight(blk(i, "ffn_gate_exps.weight"), s.nEmbd, s.nFfExpert, s.nExperts);
            b.weight(blk(i, "ffn_up_exps.weight"), s.nEmbd, s.nFfExpert, s.nExperts);
            b.weight(blk(i, "ffn_down_exps.weight"), s.nFfExpert, s.nEmbd, s.nExperts);
        } else if (phi3) {
            b.weight(blk(i, "ffn_up.weight"), s.nEmbd, 2ull * s.nFf); // gate and up fused
            b.weight(blk(i, "ffn_down.weight"), s.nFf, s.nEmbd);
        } else {
            b.weight(blk(i, "ffn_gate.weight"), s.nEmbd, s.nFf);
            b.weight(blk(i, "ffn_up.weight"), s.nEmbd, s.nFf);
            b.weight(blk(i, "ffn_down.weight"), s.nFf, s.nEmbd);
        }
        if (gemma)
            b.vector(blk(i, "post_ffw_norm.weight"), s.nEmbd);
    }

    // The keys the mix rules read (docs/quantization.md, "What the rules look at"), under the
    // architecture's prefix.
    const QByteArray a = arch.toUtf8();
    GgufMetadata &md = out.metadata;
    md.set("general.architecture", GgufValue::fromString(a));
    md.set("general.name", GgufValue::fromString(s.name));
    md.set(a + ".block_count", GgufValue::u32(s.nLayers));
    md.set(a + ".context_length", GgufValue::u32(s.nCtxMax));
    md.set(a + ".embedding_length", GgufValue::u32(s.nEmbd));
    md.set(a + ".feed_forward_length", GgufValue::u32(s.isMoe() ? s.nFfExpert : s.nFf));
    md.set(a + ".attention.head_count", GgufValue::u32(s.nHeads));
    md.set(a + ".attention.head_count_kv", GgufValue::u32(s.nHeadsKv));
    md.set(a + ".attention.key_length", GgufValue::u32(s.headDim));
    md.set(a + ".attention.value_length", GgufValue::u32(s.headDim));
    if (s.isMoe()) {
        md.set(a + ".expert_count", GgufValue::u32(s.nExperts));
        md.set(a + ".expert_used_count", GgufValue::u32(s.nExpertsUsed));
    }
    if (s.nSlidingLayers > 0)
        md.set(a + ".attention.sliding_window", GgufValue::u32(s.slidingWindow));
    return out;
}

std::uint64_t estimatedVocabMetadataBytes(const ModelShape &s)
{
    // Average token text lengths measured on llama.cpp's vocab-only GGUFs (models/ggml-vocab-*):
    // SPM 32k 6.6 bytes; byte-level BPE 50-65k 7.1 (merges 8.1), 102k 9.1 (merges 10.1).
    const double n = s.nVocab;
    const double arrayHeader = 8 + 24 + 4 + 4 + 8; // key length, key, type, element type, count
    double tokenText = 0;
    double bytes = 0;
    if (s.bpeTokenizer) {
        tokenText = n >= 100000 ? 9.1 : 7.1;
        const double merges = s.nMerges ? s.nMerges : std::max(0.0, n - 256);
        bytes += arrayHeader + merges * (8 + tokenText + 1); // tokenizer.ggml.merges
    } else {
        tokenText = n <= 40000 ? 6.6 : 7.5;
        bytes += arrayHeader + n * 4; // tokenizer.ggml.scores
    }
    bytes += arrayHeader + n * (8 + tokenText); // tokenizer.ggml.tokens
    bytes += arrayHeader + n * 4;               // tokenizer.ggml.token_type
    // Chat template, special token ids, rope/norm keys, general.* strings.
    bytes += 6 * 1024;
    return std::uint64_t(bytes);
}

} // namespace QuantFit
