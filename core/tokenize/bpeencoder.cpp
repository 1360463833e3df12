// Byte-level BPE over ranked merges (tokenizers.md §5), per text fragment:
//  1. pre-tokenize with the patterns of tokenizer.ggml.pre
//  2. map every byte of a piece through the GPT-2 byte -> character table
//  3. ignore_merges models emit a piece that is a whole token directly
//  4. otherwise merge adjacent symbols, lowest merge rank first (ties to the leftmost pair)
//  5. emit each final symbol's id, or the ids of its single bytes that are tokens

#include "tokenizerdata.h"

#include "unicodeclass.h"

#include <queue>

namespace QuantFit {

namespace {

struct Symbol {
    std::size_t start;
    std::size_t length; ///< 0 once merged into its left neighbour
    int prev;
    int next;
};

struct Bigram {
    int left;
    int right;
    std::int32_t rank;
    std::size_t length;
};

struct BigramOrder {
    // priority_queue keeps the "largest" on top: lowest rank, then smallest left index.
    bool operator()(const Bigram &a, const Bigram &b) const
    {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

void encodeWord(const TokenizerData &d, std::string_view piece, std::string &word,
                std::string &key, std::vector<std::int32_t> &out)
{
    const auto &table = byteToBpeChar();
    word.clear();
    for (const char ch : piece)
        word += table[static_cast<unsigned char>(ch)];

    if (d.ignoreMerges) {
        if (const auto id = d.find(word)) {
            out.push_back(*id);
            return;
        }
    }

    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    for (std::size_t offset = 0; offset < word.size();) {
        const std::size_t len = std::min(Unicode::utf8SequenceLength(
                                             static_cast<unsigned char>(word[offset])),
                                         word.size() - offset);
        const int index = int(symbols.size());
        symbols.push_back({offset, len, index - 1, offset + len == word.size() ? -1 : index + 1});
        offset += len;
    }

    const std::string_view w(word);
    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    const auto tryAdd = [&](int left, int right) {
        if (left < 0 || right < 0)
            return;
        const Symbol &l = symbols[left];
        const Symbol &r = symbols[right];
        TokenizerData::mergeKey(key, w.substr(l.start, l.length), w.substr(r.start, r.length));
        const auto it = d.mergeRanks.find(key);
        if (it == d.mergeRanks.end())
            return;
        queue.push({left, right, it->second, l.length + r.length});
    };
    for (int i = 1; i < int(symbols.size()); ++i)
        tryAdd(i - 1, i);

    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol &left = symbols[b.left];
        Symbol &right = symbols[b.right];
        // Symbols only grow, so unchanged lengths mean the pair still has the queued text.
        if (left.length == 0 || right.length == 0 || left.length + right.length != b.length)
            continue;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0)
            symbols[right.next].prev = b.left;
        tryAdd(left.prev, b.left);
        tryAdd(b.left, left.next);
    }

    for (int i = 0; i != -1 && !symbols.empty(); i = symbols[i].next) {
        const std::string_view text = w.substr(symbols[i].start, symbols[i].length);
        if (const auto id = d.find(text)) {
            out.push_back(*id);
            continue;
        }
        // Not in the vocabulary (broken vocabularies only): its bytes that are tokens.
        for (std::size_t k = 0; k < text.size(); ++k) {
            if (const auto id = d.find(text.substr(k, 1)))
                out.push_back(*id);
        }
    }
}

} // namespace

const std::array<std::string, 256> &byteToBpeChar()
{
    static const auto table = [] {
        std::array<std::string, 256> t;
        char32_t next = 0x100;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC)
                || (b >= 0xAE && b <= 0xFF);
            Unicode::appendUtf8(t[std::size_t(b)], printable ? char32_t(b) : next++);
        }
        return t;
    }();
    return table;
}

int bpeCharToByte(char32_t cp)
{
    if ((cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || (cp >= 0xAE && cp <= 0xFF))
        return int(cp);
    if (cp < 0x100 || cp > 0x143)
        return -1;
    // The 68 remapped bytes in increasing order: 0x00-0x20, 0x7F-0xA0, 0xAD.
    const int n = int(cp - 0x100);
    if (n <= 0x20)
        return n;
    if (n <= 0x20 + 34)
        return 0x7F + (n - 0x21);
    return 0xAD;
}

void encodeBpeFragment(const TokenizerData &d, std::string_view text,
                       std::vector<std::int32_t> &out)
{
    std::string word;
    std::string key;
    for (const std::string_view piece : preTokenize(text, d.pre.patterns))
        encodeWord(d, piece, word, key, out);
}

} // namespace QuantFit
