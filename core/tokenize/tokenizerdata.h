#pragma once

// Internal: the loaded vocabulary shared by Tokenizer and the SPM/BPE encoders.

#include "pretokenizer.h"
#include "tokenizer.h"

#include <QString>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace QuantFit {

/// Hash that lets unordered_map<std::string, ...> be searched with a string_view.
struct StringViewHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

using StringIdMap = std::unordered_map<std::string, std::int32_t, StringViewHash, std::equal_to<>>;

struct TokenizerData {
    QString fileName;
    TokenizerKind kind = TokenizerKind::Spm;
    QString modelName;
    PreTokenizerInfo pre; ///< BPE only

    std::vector<std::string> texts;
    std::vector<float> scores;
    std::vector<TokenType> types;      ///< after llama.cpp's CONTROL promotions
    std::vector<std::uint8_t> lstrip;  ///< special token eats whitespace on its left
    std::vector<std::uint8_t> rstrip;  ///< ... on its right
    StringIdMap textToId;              ///< later ids win for duplicate texts
    /// BPE merges between two tokens, by (left id << 32 | right id): rank and the id of the
    /// merged text (-1 when it is no token).
    struct MergeResult {
        std::int32_t rank;
        std::int32_t result;
    };
    std::unordered_map<std::uint64_t, MergeResult> mergeIds;
    StringIdMap mergeRanks;            ///< merges with a part that is no token: mergeKey(l, r)
    std::array<std::int32_t, 256> bpeByteIds{}; ///< id of each byte's table character, or -1
    /// SPM: pairs of adjacent characters (packed by charKey) that occur inside some token. A
    /// boundary between two characters not in this set is never crossed by a merge.
    std::unordered_set<std::uint64_t> spmCharPairs;
    std::vector<std::int32_t> specialTokens; ///< split candidates, longest text first

    std::int32_t bos = -1;
    std::int32_t eos = -1;
    std::int32_t unk = -1;
    std::unordered_set<std::int32_t> endOfGeneration;
    bool addBos = false;
    bool addEos = false;
    bool addSpacePrefix = false;
    bool ignoreMerges = false;
    bool cleanSpaces = false;

    std::array<std::int32_t, 256> byteTokens{}; ///< SPM byte fallback: <0xHH> or the byte itself

    std::optional<std::int32_t> find(std::string_view text) const
    {
        const auto it = textToId.find(text);
        if (it == textToId.end())
            return std::nullopt;
        return it->second;
    }

    /// Unambiguous key of a merge pair: 4-byte length of `left`, then both texts.
    static void mergeKey(std::string &key, std::string_view left, std::string_view right)
    {
        const auto n = static_cast<std::uint32_t>(left.size());
        key.assign(reinterpret_cast<const char *>(&n), sizeof n);
        key.append(left);
        key.append(right);
    }
};

/// The bytes of one UTF-8 character (at most 4) packed into an integer.
inline std::uint32_t charKey(std::string_view ch)
{
    std::uint32_t k = 0;
    for (std::size_t i = 0; i < ch.size() && i < 4; ++i)
        k |= std::uint32_t(static_cast<unsigned char>(ch[i])) << (8 * i);
    return k;
}

inline std::uint64_t pairKey(std::uint32_t left, std::uint32_t right)
{
    return (std::uint64_t(left) << 32) | right;
}

/// Ids of pieces already encoded during one encode() call: natural text repeats its words, and
/// a piece's tokens do not depend on its neighbours. Bounded in piece length and entries.
class PieceCache
{
public:
    template<typename Encode>
    void append(std::string_view piece, std::vector<std::int32_t> &out, Encode encode)
    {
        if (piece.size() > kMaxPieceBytes) {
            encode(piece, out);
            return;
        }
        if (const auto it = m_map.find(piece); it != m_map.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
        const std::size_t before = out.size();
        encode(piece, out);
        if (m_map.size() >= kMaxEntries)
            m_map.clear();
        m_map.emplace(std::string(piece),
                      std::vector<std::int32_t>(out.begin() + std::ptrdiff_t(before), out.end()));
    }

private:
    static constexpr std::size_t kMaxPieceBytes = 64;
    static constexpr std::size_t kMaxEntries = 1 << 16;
    std::unordered_map<std::string, std::vector<std::int32_t>, StringViewHash, std::equal_to<>>
        m_map;
};

/// Reads the tokenizer.ggml.* keys (tokenizerdata.cpp). Throws Error as Tokenizer::fromMetadata.
std::shared_ptr<const TokenizerData> loadTokenizerData(const GgufMetadata &md,
                                                       const QString &fileName);

/// GPT-2 byte <-> character table (`unicode_byte_to_utf8` in llama.cpp's src/unicode.cpp).
const std::array<std::string, 256> &byteToBpeChar();
/// Inverse of byteToBpeChar; -1 for code points that stand for no byte.
int bpeCharToByte(char32_t cp);

/// Appends the SPM tokens of one text fragment (already space-escaped); spmencoder.cpp.
void encodeSpmFragment(const TokenizerData &d, std::string_view text,
                       std::vector<std::int32_t> &out);
/// Appends the BPE tokens of one text fragment (pre-tokenized here); bpeencoder.cpp.
void encodeBpeFragment(const TokenizerData &d, std::string_view text,
                       std::vector<std::int32_t> &out);

} // namespace QuantFit
