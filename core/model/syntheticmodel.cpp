#include "syntheticmodel.h"

#include "gguf/filetype.h"
#include "gguf/ggufwriter.h"
#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "util/error.h"
#include "util/fp16.h"

#include <QSet>

#include <cmath>
#include <cstring>
#include <vector>

namespace QuantFit {

namespace {

//
// deterministic random numbers: splitmix64 seeding, xoshiro256** stream per row
//

std::uint64_t splitmix(std::uint64_t &state)
{
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

class Rng
{
public:
    explicit Rng(std::uint64_t seed)
    {
        for (auto &w : m_s)
            w = splitmix(seed);
    }

    std::uint64_t next()
    {
        const std::uint64_t result = rotl(m_s[1] * 5, 7) * 9;
        const std::uint64_t t = m_s[1] << 17;
        m_s[2] ^= m_s[0];
        m_s[3] ^= m_s[1];
        m_s[1] ^= m_s[2];
        m_s[0] ^= m_s[3];
        m_s[2] ^= t;
        m_s[3] = rotl(m_s[3], 45);
        return result;
    }

    double uniform() { return double(next() >> 11) * 0x1.0p-53; } // [0, 1)

    double normal()
    {
        if (m_hasSpare) {
            m_hasSpare = false;
            return m_spare;
        }
        double u = 0;
        while (u <= 1e-300)
            u = uniform();
        const double v = uniform();
        const double r = std::sqrt(-2.0 * std::log(u));
        m_spare = r * std::sin(2 * M_PI * v);
        m_hasSpare = true;
        return r * std::cos(2 * M_PI * v);
    }

    /// Student-t with 5 degrees of freedom, scaled to unit variance (var = 5/3).
    double studentT5()
    {
        double chi2 = 0;
        for (int i = 0; i < 5; ++i) {
            const double g = normal();
            chi2 += g * g;
        }
        return normal() / std::sqrt(chi2 / 5.0) * std::sqrt(3.0 / 5.0);
    }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t m_s[4];
    bool m_hasSpare = false;
    double m_spare = 0;
};

std::uint64_t mixSeed(std::uint64_t seed, std::uint64_t a, std::uint64_t b)
{
    std::uint64_t s = seed ^ (a * 0xD1B54A32D192ED03ull) ^ (b * 0x8CB92BA72F3D8DD7ull);
    splitmix(s);
    return splitmix(s);
}

//
// vocabulary
//

const char *const kWords[] = {
    "the", "and", "was", "she", "he", "they", "a", "to", "of", "in", "it", "is", "that", "with",
    "for", "on", "you", "had", "her", "his", "said", "one", "day", "little", "big", "saw", "wanted",
    "play", "happy", "friend", "friends", "mom", "time", "once", "upon", "there", "lived", "girl",
    "boy", "named", "tim", "lily", "ben", "sue", "very", "went", "to", "park", "tree", "dog", "cat",
    "bird", "ball", "toy", "car", "sun", "sky", "red", "blue", "green", "not", "but", "so", "then",
    "were", "be", "have", "do", "all", "can", "we", "me", "my", "at", "up", "out", "what", "this",
    "from", "by", "an", "are", "as", "or", "if", "no", "will", "would", "there", "their", "about",
    "into", "more", "other", "some", "could", "like", "time", "after", "new", "first", "good",
    "know", "look", "help", "home", "water", "house", "run", "find", "found", "came", "come",
    "made", "make", "see", "went", "go", "got", "get", "love", "loved", "smiled", "laughed",
    "together", "every", "again", "away", "back", "down", "how", "why", "when", "where", "who",
    "model", "weight", "token", "memory", "context", "quant", "layer", "data", "file", "size",
};

const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-:;()";

struct Vocab {
    QList<QByteArray> tokens;
    std::vector<float> scores;
    std::vector<std::int32_t> types;
};

Vocab makeVocab(std::uint32_t nVocab)
{
    static const QByteArray space = QByteArray("\xE2\x96\x81"); // U+2581, SentencePiece's space
    Vocab v;
    auto add = [&](const QByteArray &t, float score, std::int32_t type) {
        v.tokens.append(t);
        v.scores.push_back(score);
        v.types.push_back(type);
    };
    add("<unk>", 0.0f, 2);
    add("<s>", 0.0f, 3);
    add("</s>", 0.0f, 3);
    for (int b = 0; b < 256; ++b)
        add(QByteArray("<0x") + QByteArray::number(b, 16).toUpper().rightJustified(2, '0') + '>',
            0.0f, 6);

    QList<QByteArray> pieces;
    QSet<QByteArray> seen;
    auto piece = [&](const QByteArray &p) {
        if (!seen.contains(p)) {
            seen.insert(p);
            pieces.append(p);
        }
    };
    piece(space);
    for (const char *c = kChars; *c; ++c)
        piece(QByteArray(1, *c));
    for (const char *c = kChars; *c; ++c)
        piece(space + QByteArray(1, *c));
    // Words with every prefix, so SentencePiece's pair merges can reach the whole word.
    for (const char *w : kWords) {
        const QByteArray word = space + QByteArray(w);
        for (qsizetype len = space.size() + 2; len <= word.size(); ++len)
            piece(word.left(len));
    }
    for (const char *a = kChars; *a && a < kChars + 26; ++a)
        for (const char *b = kChars; *b && b < kChars + 26; ++b)
            piece(QByteArray(1, *a) + QByteArray(1, *b));

    int rank = 0;
    for (const auto &p : pieces) {
        if (std::uint32_t(v.tokens.size()) >= nVocab)
            break;
        add(p, -float(rank++), 1);
    }
    // Fill any remaining ids with unused placeholder pieces.
    for (std::uint32_t i = std::uint32_t(v.tokens.size()); i < nVocab; ++i)
        add(QByteArray("<unused") + QByteArray::number(i) + '>', -1e9f, 5);
    return v;
}

//
// tensors
//

enum class Init { Embedding, Linear, Norm };

struct TensorPlan {
    Init init;
    std::uint64_t nIn;
    std::uint64_t nOut;
};

} // namespace

void validate(const SyntheticModelOptions &o)
{
    auto fail = [](const QString &option, const QString &why) {
        throw Error(QStringLiteral("make-model: --%1 %2").arg(option, why));
    };
    if (o.nLayers < 1 || o.nLayers > 512)
        fail(QStringLiteral("layers"), QStringLiteral("must be from 1 to 512"));
    if (o.nEmbd < 8 || o.nEmbd > 65536 || o.nEmbd % 8)
        fail(QStringLiteral("embd"), QStringLiteral("must be a multiple of 8 from 8 to 65536"));
    if (o.nFf < 8 || o.nFf > 262144)
        fail(QStringLiteral("ff"), QStringLiteral("must be from 8 to 262144"));
    if (o.nHeads < 1 || o.nEmbd % o.nHeads)
        fail(QStringLiteral("heads"), QStringLiteral("must divide --embd (%1)").arg(o.nEmbd));
    if ((o.nEmbd / o.nHeads) % 2)
        fail(QStringLiteral("heads"), QStringLiteral("must leave an even head dimension for RoPE"));
    if (o.nHeadsKv < 1 || o.nHeads % o.nHeadsKv)
        fail(QStringLiteral("kv-heads"), QStringLiteral("must divide --heads (%1)").arg(o.nHeads));
    if (o.nVocab < 260 || o.nVocab > 1000000)
        fail(QStringLiteral("vocab"),
             QStringLiteral("must be from 260 (3 special + 256 byte tokens + 1) to 1000000"));
    if (o.nCtx < 16 || o.nCtx > 10000000)
        fail(QStringLiteral("ctx"), QStringLiteral("must be from 16 to 10000000"));
    if (o.type != GgmlType::F32 && o.type != GgmlType::F16)
        fail(QStringLiteral("type"), QStringLiteral("must be F32 or F16"));
}

GgufLayout syntheticModelLayout(const SyntheticModelOptions &o)
{
    validate(o);
    GgufLayout layout;
    auto &md = layout.metadata;
    const Vocab vocab = makeVocab(o.nVocab);
    md.set("general.architecture", GgufValue::fromString(QByteArray("llama")));
    md.set("general.type", GgufValue::fromString(QByteArray("model")));
    md.set("general.name", GgufValue::fromString(o.name));
    md.set("general.file_type",
           GgufValue::u32(static_cast<std::uint32_t>(o.type == GgmlType::F16 ? FileType::F16
                                                                              : FileType::F32)));
    md.set("general.quantization_version", GgufValue::u32(2));
    md.set("llama.context_length", GgufValue::u32(o.nCtx));
    md.set("llama.embedding_length", GgufValue::u32(o.nEmbd));
    md.set("llama.block_count", GgufValue::u32(o.nLayers));
    md.set("llama.feed_forward_length", GgufValue::u32(o.nFf));
    md.set("llama.rope.dimension_count", GgufValue::u32(o.nEmbd / o.nHeads));
    md.set("llama.attention.head_count", GgufValue::u32(o.nHeads));
    md.set("llama.attention.head_count_kv", GgufValue::u32(o.nHeadsKv));
    md.set("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(1e-5f));
    md.set("llama.rope.freq_base", GgufValue::f32(10000.0f));
    md.set("llama.vocab_size", GgufValue::u32(o.nVocab));
    md.set("tokenizer.ggml.model", GgufValue::fromString(QByteArray("llama")));
    md.set("tokenizer.ggml.pre", GgufValue::fromString(QByteArray("default")));
    md.set("tokenizer.ggml.tokens", GgufValue::stringArray(vocab.tokens));
    md.set("tokenizer.ggml.scores", GgufValue::floatArray(vocab.scores));
    md.set("tokenizer.ggml.token_type", GgufValue::int32Array(vocab.types));
    md.set("tokenizer.ggml.bos_token_id", GgufValue::u32(1));
    md.set("tokenizer.ggml.eos_token_id", GgufValue::u32(2));
    md.set("tokenizer.ggml.unknown_token_id", GgufValue::u32(0));
    md.set("tokenizer.ggml.add_bos_token", GgufValue::fromBool(true));
    md.set("tokenizer.ggml.add_eos_token", GgufValue::fromBool(false));

    const std::uint64_t headDim = o.nEmbd / o.nHeads;
    const std::uint64_t kvDim = headDim * o.nHeadsKv;
    auto tensor = [&](const QByteArray &name, std::uint64_t ne0, std::uint64_t ne1, GgmlType type) {
        GgufTensorInfo t;
        t.name = name;
        t.ne = {ne0, ne1, 1, 1};
        t.nDims = t.effectiveDims();
        t.type = type;
        layout.tensors.push_back(t);
    };
    // Converter order: embeddings, blocks, final norm, LM head.
    tensor("token_embd.weight", o.nEmbd, o.nVocab, o.type);
    for (std::uint32_t l = 0; l < o.nLayers; ++l) {
        const QByteArray p = "blk." + QByteArray::number(l) + '.';
        tensor(p + "attn_norm.weight", o.nEmbd, 1, GgmlType::F32);
        tensor(p + "attn_q.weight", o.nEmbd, o.nEmbd, o.type);
        tensor(p + "attn_k.weight", o.nEmbd, kvDim, o.type);
        tensor(p + "attn_v.weight", o.nEmbd, kvDim, o.type);
        tensor(p + "attn_output.weight", o.nEmbd, o.nEmbd, o.type);
        tensor(p + "ffn_norm.weight", o.nEmbd, 1, GgmlType::F32);
        tensor(p + "ffn_gate.weight", o.nEmbd, o.nFf, o.type);
        tensor(p + "ffn_up.weight", o.nEmbd, o.nFf, o.type);
        tensor(p + "ffn_down.weight", o.nFf, o.nEmbd, o.type);
    }
    tensor("output_norm.weight", o.nEmbd, 1, GgmlType::F32);
    if (!o.tiedEmbeddings)
        tensor("output.weight", o.nEmbd, o.nVocab, o.type);
    layout.finalize();
    return layout;
}

void writeSyntheticModel(const QString &path, const SyntheticModelOptions &o, JobContext &ctx)
{
    GgufLayout layout = syntheticModelLayout(o);
    std::uint64_t totalBytes = 0;
    for (const auto &t : layout.tensors)
        totalBytes += t.nBytes;
    GgufWriter writer(path, layout);
    ctx.setStage(QStringLiteral("Generating %1").arg(path), totalBytes);
    ctx.setRateUnit(QStringLiteral("MB/s"), 1e6);

    constexpr std::uint64_t kChunkRows = 64;
    for (std::size_t ti = 0; ti < writer.layout().tensors.size(); ++ti) {
        const auto &t = writer.layout().tensors[ti];
        const std::uint64_t nIn = t.ne[0];
        const std::uint64_t nRows = t.ne[1];
        const bool isNorm = t.nDims == 1;
        const bool isEmbedding = t.name == "token_embd.weight";
        const std::size_t elemBytes = t.type == GgmlType::F16 ? 2 : 4;

        // Outlier input columns: about 0.5% of the columns (at least one) carry ~8x the
        // magnitude, as activation-outlier channels do in trained models.
        std::vector<float> columnScale(nIn, 1.0f);
        if (!isNorm && !isEmbedding) {
            Rng colRng(mixSeed(o.seed, ti, 0xC011));
            const std::uint64_t nOutliers = std::max<std::uint64_t>(1, nIn / 200);
            for (std::uint64_t k = 0; k < nOutliers; ++k)
                columnScale[std::size_t(colRng.next() % nIn)] = 8.0f;
        }
        const double baseStd = isEmbedding ? 0.05 : 1.0 / std::sqrt(double(nIn));

        const std::uint64_t nChunks = (nRows + kChunkRows - 1) / kChunkRows;
        const std::uint64_t chunkBytes = kChunkRows * nIn * elemBytes;
        // Generate a batch of chunks in parallel, then write them in order: memory stays at
        // a few chunks per thread whatever the tensor size.
        const std::uint64_t batch = std::uint64_t(defaultThreadCount()) * 4;
        std::vector<std::uint8_t> buffer;
        for (std::uint64_t first = 0; first < nChunks; first += batch) {
            const std::uint64_t count = std::min(batch, nChunks - first);
            buffer.assign(std::size_t(count * chunkBytes), 0);
            parallelFor(count, 0, [&](std::uint64_t c) {
                const std::uint64_t chunk = first + c;
                std::uint8_t *out = buffer.data() + c * chunkBytes;
                std::vector<float> row(nIn);
                for (std::uint64_t r = chunk * kChunkRows;
                     r < std::min(nRows, (chunk + 1) * kChunkRows); ++r) {
                    Rng rng(mixSeed(o.seed, ti, r));
                    if (isNorm) {
                        for (auto &x : row)
                            x = float(1.0 + 0.05 * rng.normal());
                    } else {
                        // Per-row scale: log-normal, sigma 0.3.
                        const double rowScale = baseStd * std::exp(0.3 * rng.normal());
                        for (std::uint64_t i = 0; i < nIn; ++i)
                            row[i] = float(rng.studentT5() * rowScale * columnScale[i]);
                    }
                    std::uint8_t *dst = out + (r - chunk * kChunkRows) * nIn * elemBytes;
                    if (elemBytes == 4) {
                        std::memcpy(dst, row.data(), nIn * 4);
                    } else {
                        for (std::uint64_t i = 0; i < nIn; ++i) {
                            const std::uint16_t h = fp32ToFp16(row[i]);
                            std::memcpy(dst + 2 * i, &h, 2);
                        }
                    }
                }
            }, &ctx);
            const std::uint64_t validRows
                = std::min(nRows, (first + count) * kChunkRows) - first * kChunkRows;
            const std::uint64_t validBytes = validRows * nIn * elemBytes;
            writer.writeTensorData(std::span(buffer.data(), std::size_t(validBytes)));
            ctx.advance(validBytes);
            ctx.throwIfCancelled();
        }
    }
    writer.commit();
    ctx.flush();
}

} // namespace QuantFit
