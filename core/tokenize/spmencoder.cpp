// SentencePiece-style BPE over token scores (tokenizers.md §4):
//  1. split the fragment into UTF-8 characters (symbols, a doubly linked list)
//  2. queue every adjacent pair whose concatenation is a token, best score first, ties to the
//     leftmost pair
//  3. pop pairs, skipping stale ones, merge them and queue the new neighbour pairs
//  4. emit each final symbol's id, or its bytes through <0xHH> tokens (byte fallback)

#include "tokenizerdata.h"

#include "unicodeclass.h"
#include "util/error.h"

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
    float score;
    std::size_t length;
};

struct BigramOrder {
    // priority_queue keeps the "largest" on top: highest score, then smallest left index.
    bool operator()(const Bigram &a, const Bigram &b) const
    {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

} // namespace

void encodeSpmFragment(const TokenizerData &d, std::string_view text,
                       std::vector<std::int32_t> &out)
{
    std::vector<Symbol> symbols;
    symbols.reserve(text.size());
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

    std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
    const auto tryAdd = [&](int left, int right) {
        if (left < 0 || right < 0)
            return;
        const std::size_t length = symbols[left].length + symbols[right].length;
        const auto id = d.find(text.substr(symbols[left].start, length));
        if (!id)
            return;
        queue.push({left, right, d.scores[std::size_t(*id)], length});
    };
    for (int i = 1; i < int(symbols.size()); ++i)
        tryAdd(i - 1, i);

    while (!queue.empty()) {
        const Bigram b = queue.top();
        queue.pop();
        Symbol &left = symbols[b.left];
        Symbol &right = symbols[b.right];
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

    // Every merged symbol is a token (a pair is only queued when its text is one), so only
    // single characters can miss the vocabulary; they fall back to byte tokens.
    for (int i = 0; i != -1; i = symbols[i].next) {
        const Symbol &s = symbols[i];
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

} // namespace QuantFit
