// SentencePiece-style BPE over token scores (`llm_tokenizer_spm_session` in llama.cpp's
// src/llama-vocab.cpp):
//  1. split the fragment into UTF-8 characters (symbols, a doubly linked list)
//  2. queue every adjacent pair whose concatenation is a token, best score first, ties to the
//     leftmost pair
//  3. pop pairs, skipping stale ones, merge them and queue the new neighbour pairs
//  4. emit each final symbol's id, or its bytes through <0xHH> tokens (byte fallback)

#include "tokenizerdata.h"

#include "unicodeclass.h"
#include "util/error.h"

#include <algorithm>

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
    float score;
    std::size_t length;
};

struct BigramOrder {
    // The heap keeps the "largest" on top: highest score, then smallest left index.
    bool operator()(const Bigram &a, const Bigram &b) const
    {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

struct Scratch {
    std::vector<Symbol> symbols;
    std::vector<Bigram> heap;
};

// One chunk: no merge crosses its ends (see encodeSpmFragment).
void encodeChunk(const TokenizerData &d, std::string_view text, Scratch &sc,
                 std::vector<std::int32_t> &out)
{
    std::vector<Symbol> &symbols = sc.symbols;
    symbols.clear();
    for (std::size_t offset = 0; offset < text.size();) {
        const std::size_t len = std::min(Unicode::utf8SequenceLength(
                                             static_cast<unsigned char>(text[offset])),
                                         text.size() - offset);
        const int index = int(symbols.size());
        symbols.push_back({offset, len, index - 1, offset + len == text.size() ? -1 : index + 1});
        offset += len;
    }
    if (symbols.empty())
        return;

    std::vector<Bigram> &heap = sc.heap; // a binary heap ordered by BigramOrder
    heap.clear();
    const auto tryAdd = [&](int left, int right) {
        if (left < 0 || right < 0)
            return;
        const std::size_t length = symbols[std::size_t(left)].length
            + symbols[std::size_t(right)].length;
        const auto id = d.find(text.substr(symbols[std::size_t(left)].start, length));
        if (!id)
            return;
        heap.push_back({left, right, d.scores[std::size_t(*id)], length});
        std::push_heap(heap.begin(), heap.end(), BigramOrder{});
    };
    for (int i = 1; i < int(symbols.size()); ++i)
        tryAdd(i - 1, i);

    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end(), BigramOrder{});
        const Bigram b = heap.back();
        heap.pop_back();
        Symbol &left = symbols[std::size_t(b.left)];
        Symbol &right = symbols[std::size_t(b.right)];
        if (left.length == 0 || right.length == 0 || left.length + right.length != b.length)
            continue;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0)
            symbols[std::size_t(right.next)].prev = b.left;
        tryAdd(left.prev, b.left);
        tryAdd(b.left, left.next);
    }

    // Every merged symbol is a token (a pair is only queued when its text is one), so only
    // single characters can miss the vocabulary; they fall back to byte tokens.
    for (int i = 0; i != -1; i = symbols[std::size_t(i)].next) {
        const Symbol &s = symbols[std::size_t(i)];
        const std::string_view piece = text.substr(s.start, s.length);
        if (const auto id = d.find(piece)) {
            out.push_back(*id);
            continue;
        }
        for (const char ch : piece) {
            const auto byte = static_cast<unsigned char>(ch);
            const std::int32_t id = d.byteTokens[byte];
            if (id < 0)
                throw Error(QStringLiteral("cannot tokenize with '%1': the vocabulary has no "
                                           "token for byte 0x%2 (no <0x%2> and no one-byte token)")
                                .arg(d.fileName,
                                     QString::number(byte, 16).rightJustified(2, u'0').toUpper()));
            out.push_back(id);
        }
    }
}

} // namespace

void encodeSpmFragment(const TokenizerData &d, std::string_view text,
                       std::vector<std::int32_t> &out)
{
    // The merge order is global over the fragment, but a merge only joins neighbours whose
    // concatenation is a token. Where two adjacent characters occur together in no token, no
    // merge can ever join across them, so the fragment is cut there and each chunk (about a
    // word) is merged on its own with the same result; this keeps the heap small.
    Scratch scratch;
    PieceCache cache;
    const auto encode = [&](std::string_view chunk, std::vector<std::int32_t> &o) {
        encodeChunk(d, chunk, scratch, o);
    };
    std::size_t chunkStart = 0;
    std::uint32_t previous = 0;
    for (std::size_t i = 0; i < text.size();) {
        const std::size_t len = std::min(
            Unicode::utf8SequenceLength(static_cast<unsigned char>(text[i])), text.size() - i);
        const std::uint32_t key = charKey(text.substr(i, len));
        if (i > 0 && !d.spmCharPairs.contains(pairKey(previous, key))) {
            cache.append(text.substr(chunkStart, i - chunkStart), out, encode);
            chunkStart = i;
        }
        previous = key;
        i += len;
    }
    cache.append(text.substr(chunkStart), out, encode);
}

} // namespace QuantFit
