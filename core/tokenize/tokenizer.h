#pragma once

// Tokenizers stored in GGUF metadata (llama.cpp's src/llama-vocab.cpp; keys in docs/formats.md,
// "Metadata keys QuantFit reads"):
//  1. tokenizer.ggml.model selects the algorithm: "llama" = SentencePiece-style BPE over
//     scores with byte fallback (SPM), "gpt2" = byte-level BPE over ranked merges.
//  2. The text is first split on special tokens (longest first); USER_DEFINED tokens always,
//     CONTROL/UNKNOWN ones only when parseSpecial is set.
//  3. Each remaining text fragment is tokenized: SPM escapes spaces as U+2581 (prepending one to
//     the first fragment and to each fragment after a special token when add_space_prefix);
//     BPE runs the pre-tokenizer patterns of tokenizer.ggml.pre, maps bytes through the GPT-2
//     byte table and applies the merges.
//  4. With addSpecial, BOS/EOS are added per tokenizer.ggml.add_bos_token / add_eos_token.
// Results equal llama.cpp's llama_tokenize(text, add_special, parse_special).

#include <QByteArray>
#include <QByteArrayView>
#include <QString>
#include <QStringView>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace QuantFit {

class GgufMetadata;
struct TokenizerData;

/// Token types as stored in tokenizer.ggml.token_type (llama.cpp's `enum llama_token_type`).
enum class TokenType : std::int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

enum class TokenizerKind {
    Spm, ///< tokenizer.ggml.model = "llama"
    Bpe, ///< tokenizer.ggml.model = "gpt2"
};

/// An immutable tokenizer built from a GGUF vocabulary. Copies are cheap (shared data); all
/// const member functions are thread-safe.
class Tokenizer
{
public:
    /// Builds the tokenizer from the tokenizer.ggml.* keys. `fileName` is used in messages.
    /// Throws Error for an unsupported tokenizer model ("bert", "t5", ... named in the message),
    /// an unknown pre-tokenizer, or missing/malformed vocabulary arrays.
    static Tokenizer fromMetadata(const GgufMetadata &metadata, const QString &fileName);
    /// Opens `path` metadata-only and builds the tokenizer (IoError/FormatError/Error).
    static Tokenizer fromFile(const QString &path);

    /// Tokenizes UTF-8 text. `addSpecial` adds BOS/EOS per the model's flags; `parseSpecial`
    /// lets CONTROL tokens written in the text (e.g. "<|im_end|>") become their ids.
    /// Throws Error naming the byte offset when `utf8` is not valid UTF-8.
    std::vector<std::int32_t> encode(QByteArrayView utf8, bool addSpecial,
                                     bool parseSpecial = false) const;
    std::vector<std::int32_t> encode(QStringView text, bool addSpecial,
                                     bool parseSpecial = false) const;

    /// The bytes a token stands for (may be a partial UTF-8 sequence for byte tokens).
    /// CONTROL/UNKNOWN tokens render as empty unless `renderSpecial`. Throws Error for an id
    /// outside [0, vocabSize()).
    QByteArray tokenToPiece(std::int32_t id, bool renderSpecial = false) const;
    /// Concatenated pieces, as llama_detokenize: `removeSpecial` drops a leading BOS / trailing
    /// EOS added by the flags; SPM strips the prefix space of the first piece; BPE applies
    /// clean-up of spaces before punctuation where the pre-tokenizer asks for it.
    QByteArray decode(std::span<const std::int32_t> ids, bool removeSpecial = false,
                      bool renderSpecial = false) const;

    TokenizerKind kind() const;
    QString modelName() const;      ///< tokenizer.ggml.model ("llama", "gpt2")
    QString preTokenizer() const;   ///< tokenizer.ggml.pre as resolved ("default" when missing)
    std::int32_t vocabSize() const;

    std::int32_t bosId() const;     ///< -1 when the model has none
    std::int32_t eosId() const;     ///< -1 when the model has none
    std::optional<std::int32_t> unknownId() const;
    bool addBos() const;
    bool addEos() const;
    /// True for EOS, EOT, EOM and the end-of-generation texts llama.cpp recognises.
    bool isEndOfGeneration(std::int32_t id) const;

    QByteArray tokenText(std::int32_t id) const; ///< stored text (Ġ/▁ not decoded)
    TokenType tokenType(std::int32_t id) const;
    float tokenScore(std::int32_t id) const;
    /// Id of the exact stored text, if any.
    std::optional<std::int32_t> findToken(QByteArrayView text) const;

private:
    explicit Tokenizer(std::shared_ptr<const TokenizerData> data);
    void checkId(std::int32_t id) const;

    std::shared_ptr<const TokenizerData> m_d;
};

} // namespace QuantFit
