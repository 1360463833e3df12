// Byte-level BPE over ranked merges (`llm_tokenizer_bpe_session` in llama.cpp's
// src/llama-vocab.cpp), per text fragment:
//  1. pre-tokenize with the patterns of tokenizer.ggml.pre
//  2. map every byte of a piece through the GPT-2 byte -> character table
//  3. ignore_merges models emit a piece that is a whole token directly
//  4. otherwise merge adjacent symbols, lowest merge rank first (ties to the leftmost pair)
//  5. emit each final symbol's id, or the ids of its single bytes that are tokens

#include "tokenizerdata.h"

#include "unicodeclass.h"

namespace QuantFit {

namespace {

struct Symbol {
    std::size_t start;
    std::size_t length; ///< 0 once merged into its left neighbour
    int prev;
    int next;
    std::int32_t id; ///< token id of the symbol's text, -1 when it is no token
};

struct Bigram {
    int left;
    int right;
    std::int32_t rank;
    std::int32_t result; ///< id of the merged text, -1 when it is no token
    std::size_t length;
};

struct BigramOrder {
    // The heap keeps the "largest" on top: lowest rank, then smallest left index.
    bool operator()(const Bigram &a, const Bigram &b) const
    {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

struct Scratch {
    std::string word;
    std::string key;
    std::string merged;
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
};

void encodeWord(const TokenizerData &d, std::string_view piece, Scratch &sc,
                std::vector<std::int32_t> &out)
{
    const auto &table = byteToBpeChar();
    std::string &word = sc.word;
    word.clear();
    for (const char ch : piece)
        word += table[static_cast<unsigned char>(ch)];

    if (d.ignoreMerges) {
        if (const auto id = d.find(word)) {
            out.push_back(*id);
            return;
        }
    }

    // One symbol per byte: the byte's table character.
    std::vector<Symbol> &symbols = sc.symbols;
    symbols.clear();
    std::size_t offset = 0;
    for (std::size_t i = 0; i < piece.size(); ++i) {
        const auto byte = static_cast<unsigned char>(piece[i]);
        const std::size_t len = table[byte].size();
        const int index = int(i);
        symbols.push_back({offset, len, index - 1, i + 1 == piece.size() ? -1 : index + 1,
                           d.bpeByteIds[byte]});
        offset += len;
    }

    // Merges between two tokens are looked up by id; others (rare) by text.
    const std::string_view w(word);
    std::vector<Bigram> &heap = sc.heap; // a binary heap ordered by BigramOrder
    heap.clear();
    const auto push = [&](const Bigram &b) {
        heap.push_back(b);
        std::push_heap(heap.begin(), heap.end(), BigramOrder{});
    };
    const auto tryAdd = [&](int left, int right) {
        if (left < 0 || right < 0)
            return;
        const Symbol &l = symbols[std::size_t(left)];
        const Symbol &r = symbols[std::size_t(right)];
        if (l.id >= 0 && r.id >= 0) {
            const auto it = d.mergeIds.find(pairKey(std::uint32_t(l.id), std::uint32_t(r.id)));
            if (it != d.mergeIds.end())
                push({left, right, it->second.rank, it->second.result, l.length + r.length});
            return;
        }
        if (d.mergeRanks.empty())
            return;
        const std::string_view lt = w.substr(l.start, l.length);
        const std::string_view rt = w.substr(r.start, r.length);
        TokenizerData::mergeKey(sc.key, lt, rt);
        const auto it = d.mergeRanks.find(sc.key);
        if (it == d.mergeRanks.end())
            return;
        sc.merged.assign(lt);
        sc.merged.append(rt);
        push({left, right, it->second, d.find(sc.merged).value_or(-1), l.length + r.length});
    };
    for (int i = 1; i < int(symbols.size()); ++i)
        tryAdd(i - 1, i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), BigramOrder{});
        const Bigram b = heap.back();
        heap.pop_back();
        Symbol &left = symbols[std::size_t(b.left)];
        Symbol &right = symbols[std::size_t(b.right)];
        // Symbols only grow, so unchanged lengths mean the pair still has the queued text.
        if (left.length == 0 || right.length == 0 || left.length + right.length != b.length)
            continue;
        left.length += right.length;
        left.id = b.result;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0)
            symbols[std::size_t(right.next)].prev = b.left;
        tryAdd(left.prev, b.left);
        tryAdd(b.left, left.next);
    }

    for (int i = 0; i != -1 && !symbols.empty(); i = symbols[std::size_t(i)].next) {
        const Symbol &s = symbols[std::size_t(i)];
        if (s.id >= 0) {
            out.push_back(s.id);
            continue;
        }
        // Not in the vocabulary (broken vocabularies only): its bytes that are tokens.
        const std::string_view text = w.substr(s.start, s.length);
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
    Scratch scratch;
    PieceCache cache;
    const auto encode = [&](std::string_view piece, std::vector<std::int32_t> &o) {
        encodeWord(d, piece, scratch, o);
    };
    for (const std::string_view piece : preTokenize(text, d.pre.patterns))
        cache.append(piece, out, encode);
}

} // namespace QuantFit
