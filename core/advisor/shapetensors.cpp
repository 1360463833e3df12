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
    /// F32 tensors a conversion never quantizes: norms, biases, routers, sinks.
    void f32(const QByteArray &name, std::uint64_t ne0, std::uint64_t ne1 = 1)
    {
        add(name, GgmlType::F32, ne0, ne1);
    }

private:
    ShapeTensors &m_out;
};

QByteArray blk(std::uint32_t layer, const char *what)
{
    return "blk." + QByteArray::number(layer) + '.' + what;
}

bool is(const ModelShape &s, const char *arch)
{
    return s.architecture == QLatin1String(arch);
}

// Multi-head latent attention as current llama.cpp conversions store it (deepseek2): low-rank
// query, the shared latent + rotary key projection, and the per-head K and V up-projections
// split into 3-D attn_k_b / attn_v_b (older files had one fused attn_kv_b of the same size).
void latentAttention(Builder &b, const ModelShape &s, std::uint32_t i)
{
    const std::uint64_t qWidth = std::uint64_t(s.nHeads) * s.headDim;
    if (s.qLoraRank) {
        b.weight(blk(i, "attn_q_a.weight"), s.nEmbd, s.qLoraRank);
        b.f32(blk(i, "attn_q_a_norm.weight"), s.qLoraRank);
        b.weight(blk(i, "attn_q_b.weight"), s.qLoraRank, qWidth);
    } else {
        b.weight(blk(i, "attn_q.weight"), s.nEmbd, qWidth);
    }
    b.weight(blk(i, "attn_kv_a_mqa.weight"), s.nEmbd, s.kvLoraRank + s.ropeHeadDim);
    b.f32(blk(i, "attn_kv_a_norm.weight"), s.kvLoraRank);
    b.weight(blk(i, "attn_k_b.weight"), s.headDim - s.ropeHeadDim, s.kvLoraRank, s.nHeads);
    b.weight(blk(i, "attn_v_b.weight"), s.kvLoraRank, s.vHeadDim, s.nHeads);
    b.weight(blk(i, "attn_output.weight"), std::uint64_t(s.nHeads) * s.vHeadDim, s.nEmbd);
}

// Gated delta-net layer of Qwen3-Next (llama.cpp qwen3next): fused q/k/v/z input projection,
// beta/alpha projection, causal conv, decay and dt vectors, gated norm, output projection.
void recurrentMixer(Builder &b, const ModelShape &s, std::uint32_t i)
{
    const std::uint64_t keyDim = std::uint64_t(s.ssmKeyHeads) * s.ssmKeyHeadDim;
    const std::uint64_t valueDim = std::uint64_t(s.ssmValueHeads) * s.ssmValueHeadDim;
    b.weight(blk(i, "ssm_in.weight"), s.nEmbd, 2 * keyDim + 2 * valueDim);
    b.weight(blk(i, "ssm_ba.weight"), s.nEmbd, 2ull * s.ssmValueHeads);
    b.f32(blk(i, "ssm_conv1d.weight"), s.ssmConvKernel, 2 * keyDim + valueDim);
    b.f32(blk(i, "ssm_dt.bias"), s.ssmValueHeads);
    b.f32(blk(i, "ssm_a"), s.ssmValueHeads);
    b.f32(blk(i, "ssm_norm.weight"), s.ssmValueHeadDim);
    b.weight(blk(i, "ssm_out.weight"), valueDim, s.nEmbd);
}

void attention(Builder &b, const ModelShape &s, std::uint32_t i)
{
    const bool phi3 = is(s, "phi3");
    const bool gptOss = is(s, "gpt-oss");
    const bool qkNorm = s.qkNorm || is(s, "qwen3") || is(s, "qwen3moe") || is(s, "gemma3")
                        || is(s, "qwen3next");
    if (s.isMla()) {
        latentAttention(b, s, i);
        return;
    }
    if (s.isRecurrentLayer(i)) {
        recurrentMixer(b, s, i);
        return;
    }
    // Qwen3-Next's full-attention layers project a query and an output gate together.
    const std::uint64_t qRows = is(s, "qwen3next") ? 2ull * s.qDim() : s.qDim();
    if (phi3) {
        b.weight(blk(i, "attn_qkv.weight"), s.nEmbd, s.qDim() + 2 * s.kvDim());
    } else {
        b.weight(blk(i, "attn_q.weight"), s.nEmbd, qRows);
        b.weight(blk(i, "attn_k.weight"), s.nEmbd, s.kvDim());
        b.weight(blk(i, "attn_v.weight"), s.nEmbd, s.kvDim());
    }
    if (s.qkvBias || gptOss) {
        b.f32(blk(i, "attn_q.bias"), s.qDim());
        b.f32(blk(i, "attn_k.bias"), s.kvDim());
        b.f32(blk(i, "attn_v.bias"), s.kvDim());
    }
    if (qkNorm) {
        b.f32(blk(i, "attn_q_norm.weight"), s.headDim);
        b.f32(blk(i, "attn_k_norm.weight"), s.headDim);
    }
    b.weight(blk(i, "attn_output.weight"), s.qDim(), s.nEmbd);
    if (gptOss) {
        b.f32(blk(i, "attn_output.bias"), s.nEmbd);
        b.f32(blk(i, "attn_sinks.weight"), s.nHeads); // one learned sink logit per head
    }
}

void feedForward(Builder &b, const ModelShape &s, std::uint32_t i)
{
    const bool gptOss = is(s, "gpt-oss");
    if (s.isMoeLayer(i)) {
        // The router stays F32 in conversions; experts are stacked 3-D tensors.
        b.f32(blk(i, "ffn_gate_inp.weight"), s.nEmbd, s.nExperts);
        if (gptOss)
            b.f32(blk(i, "ffn_gate_inp.bias"), s.nExperts);
        // DeepSeek-style selection bias (e_score_correction_bias).
        if (is(s, "deepseek2") || is(s, "glm4moe"))
            b.f32(blk(i, "exp_probs_b.bias"), s.nExperts);
        b.weight(blk(i, "ffn_gate_exps.weight"), s.nEmbd, s.nFfExpert, s.nExperts);
        b.weight(blk(i, "ffn_up_exps.weight"), s.nEmbd, s.nFfExpert, s.nExperts);
        b.weight(blk(i, "ffn_down_exps.weight"), s.nFfExpert, s.nEmbd, s.nExperts);
        if (gptOss) {
            b.f32(blk(i, "ffn_gate_exps.bias"), s.nFfExpert, s.nExperts);
            b.f32(blk(i, "ffn_up_exps.bias"), s.nFfExpert, s.nExperts);
            b.f32(blk(i, "ffn_down_exps.bias"), s.nEmbd, s.nExperts);
        }
        if (s.nSharedExperts) {
            if (is(s, "qwen3next"))
                b.f32(blk(i, "ffn_gate_inp_shexp.weight"), s.nEmbd);
            b.weight(blk(i, "ffn_gate_shexp.weight"), s.nEmbd, s.nFfShared);
            b.weight(blk(i, "ffn_up_shexp.weight"), s.nEmbd, s.nFfShared);
            b.weight(blk(i, "ffn_down_shexp.weight"), s.nFfShared, s.nEmbd);
        }
    } else if (is(s, "phi3")) {
        b.weight(blk(i, "ffn_up.weight"), s.nEmbd, 2ull * s.nFf); // gate and up fused
        b.weight(blk(i, "ffn_down.weight"), s.nFf, s.nEmbd);
    } else {
        b.weight(blk(i, "ffn_gate.weight"), s.nEmbd, s.nFf);
        b.weight(blk(i, "ffn_up.weight"), s.nEmbd, s.nFf);
        b.weight(blk(i, "ffn_down.weight"), s.nFf, s.nEmbd);
    }
}

// GLM-4.5's multi-token-prediction layer: an ordinary MoE block plus the projection that mixes
// the next token's embedding into the hidden state, its own embedding and output head, and
// their norms (llama.cpp glm4moe loads them as the last nextn_predict_layers blocks; the
// GLM-4.5-Air GGUF has 803 tensors: 801 of the main model and layer 46's two vocab matrices).
void nextnExtras(Builder &b, const ModelShape &s, std::uint32_t i)
{
    b.weight(blk(i, "nextn.eh_proj.weight"), 2ull * s.nEmbd, s.nEmbd);
    b.weight(blk(i, "nextn.embed_tokens.weight"), s.nEmbd, s.nVocab);
    b.f32(blk(i, "nextn.enorm.weight"), s.nEmbd);
    b.f32(blk(i, "nextn.hnorm.weight"), s.nEmbd);
    b.weight(blk(i, "nextn.shared_head_head.weight"), s.nEmbd, s.nVocab);
    b.f32(blk(i, "nextn.shared_head_norm.weight"), s.nEmbd);
}

} // namespace

ShapeTensors buildShapeTensors(const ModelShape &s)
{
    validateShape(s, s.id);
    ShapeTensors out;
    Builder b(out);
    const QString &arch = s.architecture;
    const bool gemma = arch.startsWith(QLatin1String("gemma"));
    const bool phi3 = is(s, "phi3");
    const bool commandR = is(s, "command-r");
    // These architectures name the pre-FFN norm post_attention_norm.
    const bool postAttentionNorm = is(s, "gpt-oss") || is(s, "glm4moe") || is(s, "qwen3next");

    b.weight("token_embd.weight", s.nEmbd, s.nVocab);
    b.f32("output_norm.weight", s.nEmbd);
    if (!s.tiedEmbeddings)
        b.weight("output.weight", s.nEmbd, s.nVocab);
    if (s.ropeFreqs)
        b.f32("rope_freqs.weight", s.headDim / 2);
    if (phi3 && s.nCtxMax > 4096 * 8) {
        // LongRoPE models (Phi-3.5 mini 128k) carry both factor sets.
        b.f32("rope_factors_long.weight", s.headDim / 2);
        b.f32("rope_factors_short.weight", s.headDim / 2);
    }

    for (std::uint32_t i = 0; i < s.nBlocks(); ++i) {
        b.f32(blk(i, "attn_norm.weight"), s.nEmbd);
        attention(b, s, i);
        if (gemma)
            b.f32(blk(i, "post_attention_norm.weight"), s.nEmbd);
        if (postAttentionNorm)
            b.f32(blk(i, "post_attention_norm.weight"), s.nEmbd);
        else if (!commandR) // Command R runs attention and FFN in parallel off one norm
            b.f32(blk(i, "ffn_norm.weight"), s.nEmbd);
        feedForward(b, s, i);
        if (gemma)
            b.f32(blk(i, "post_ffw_norm.weight"), s.nEmbd);
        if (i >= s.nLayers)
            nextnExtras(b, s, i);
    }

    // The published gpt-oss files keep the experts in MXFP4 whatever the mix (the weights were
    // trained and released so): size them as `--tensor-type _exps.weight=mxfp4` does.
    if (s.expertsMxfp4)
        out.tensorTypes.push_back({QStringLiteral("_exps\\.weight"), GgmlType::MXFP4});

    // The keys the mix rules read (docs/quantization.md, "What the rules look at"), under the
    // architecture's prefix.
    const QByteArray a = arch.toUtf8();
    GgufMetadata &md = out.metadata;
    md.set("general.architecture", GgufValue::fromString(a));
    md.set("general.name", GgufValue::fromString(s.name));
    md.set(a + ".block_count", GgufValue::u32(s.nBlocks()));
    md.set(a + ".context_length", GgufValue::u32(s.nCtxMax));
    md.set(a + ".embedding_length", GgufValue::u32(s.nEmbd));
    md.set(a + ".feed_forward_length",
           GgufValue::u32(s.isMoe() && s.nFf == 0 ? s.nFfExpert : s.nFf));
    md.set(a + ".attention.head_count", GgufValue::u32(s.nHeads));
    md.set(a + ".attention.head_count_kv", GgufValue::u32(s.isMla() ? 1 : s.nHeadsKv));
    md.set(a + ".attention.key_length", GgufValue::u32(s.headDim));
    md.set(a + ".attention.value_length", GgufValue::u32(s.isMla() ? s.vHeadDim : s.headDim));
    if (s.isMoe()) {
        md.set(a + ".expert_count", GgufValue::u32(s.nExperts));
        md.set(a + ".expert_used_count", GgufValue::u32(s.nExpertsUsed));
        md.set(a + ".expert_feed_forward_length", GgufValue::u32(s.nFfExpert));
    }
    if (s.nSharedExperts)
        md.set(a + ".expert_shared_count", GgufValue::u32(s.nSharedExperts));
    if (s.nDenseLeadLayers)
        md.set(a + ".leading_dense_block_count", GgufValue::u32(s.nDenseLeadLayers));
    if (s.nNextnLayers)
        md.set(a + ".nextn_predict_layers", GgufValue::u32(s.nNextnLayers));
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
