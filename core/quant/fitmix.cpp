#include "fitmix.h"

#include "imatrixfile.h"
#include "quantmix.h"

#include "codecs/quantkernels.h"
#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "jobs/parallel.h"
#include "util/error.h"

#include <QElapsedTimer>
#include <QRegularExpression>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <queue>
#include <random>

namespace QuantFit {

namespace {

using G = GgmlType;
using F = FileType;

// Candidate types: every block type we write that a standard mix uses, smallest first. The
// I-quants only with an importance matrix (their searches are built around one, and
// llama-quantize refuses most of them without).
const std::vector<G> &plainCandidates()
{
    static const std::vector<G> v{G::Q2_K, G::Q3_K, G::Q4_0, G::Q4_K, G::Q4_1, G::Q5_0,
                                  G::Q5_K, G::Q5_1, G::Q6_K, G::Q8_0};
    return v;
}
const std::vector<G> &iquantCandidates()
{
    static const std::vector<G> v{G::IQ1_S, G::IQ1_M, G::IQ2_XXS, G::IQ2_XS, G::IQ2_S,
                                  G::IQ3_XXS, G::IQ3_S, G::IQ4_XS, G::IQ4_NL};
    return v;
}

// The standard mixes the fit is compared with and named after, smallest first.
std::vector<F> standardMixes(bool withImatrix)
{
    std::vector<F> v{F::Q2_K, F::Q3_K_S, F::Q3_K_M, F::Q3_K_L, F::Q4_K_S,
                     F::Q4_K_M, F::Q5_K_S, F::Q5_K_M, F::Q6_K, F::Q8_0};
    if (withImatrix) {
        for (F f : {F::IQ1_S, F::IQ1_M, F::IQ2_XXS, F::IQ2_XS, F::IQ2_S, F::IQ2_M, F::IQ3_XXS,
                    F::IQ3_XS, F::IQ3_S, F::IQ3_M, F::IQ4_XS})
            v.push_back(f);
    }
    return v;
}

bool isWritableType(G t)
{
    return t == G::F32 || kernelsFor(t).quantizeRow != nullptr;
}

std::uint64_t fnv1a(const QByteArray &s, std::uint64_t row)
{
    std::uint64_t h = 1469598103934665603ull;
    for (char c : s) {
        h ^= std::uint8_t(c);
        h *= 1099511628211ull;
    }
    for (int i = 0; i < 8; ++i) {
        h ^= (row >> (8 * i)) & 0xff;
        h *= 1099511628211ull;
    }
    return h;
}

std::uint64_t measureOf(const QuantPlan &p, FitBudgetKind kind)
{
    return kind == FitBudgetKind::FileBytes ? p.outputFileBytes : p.targetTensorBytes;
}

std::uint64_t padded(std::uint64_t bytes, std::uint64_t alignment, FitBudgetKind kind)
{
    if (kind == FitBudgetKind::TensorBytes || alignment == 0)
        return bytes;
    return (bytes + alignment - 1) / alignment * alignment;
}

// Rows sampled from a tensor: all of a small one, else evenly spaced (see FitOptions).
std::vector<std::uint64_t> sampleRowsOf(const GgufTensorInfo &t, std::uint64_t sampleElements)
{
    const std::uint64_t nRows = t.nRows();
    std::uint64_t k = nRows;
    if (t.nElements() > kFitSampleAllElements) {
        const std::uint64_t ne0 = std::max<std::uint64_t>(t.ne[0], 1);
        k = std::clamp<std::uint64_t>((sampleElements + ne0 - 1) / ne0, 4, 64);
        k = std::min(k, nRows);
    }
    std::vector<std::uint64_t> rows(k);
    for (std::uint64_t i = 0; i < k; ++i)
        rows[i] = k == nRows ? i : std::min(nRows - 1, (2 * i + 1) * nRows / (2 * k));
    return rows;
}

// How a tensor's cost is put together from its rows (docs/quantization.md, "Cost of a candidate
// type"): a fused tensor is the sum of its parts, each with its own relative error and
// sensitivity; a stack of experts is the mean of its experts' relative errors weighted by how
// often the router picks each one.
struct CostShape {
    struct Part {
        std::uint64_t rowEnd = 0; ///< rows [previous rowEnd, rowEnd) of each matrix
        double sensitivity = 1;
    };
    std::vector<Part> parts;            ///< by row, covering ne[1]
    std::vector<double> expertWeights;  ///< per matrix (ne[2]), summing to 1
};

// Splits of fused tensors: attn_qkv (q, k, v rows, phi3 and others) and an ffn_up of twice the
// feed-forward width (gate and up, phi3). Anything else, or a split the shape does not confirm,
// is one part.
CostShape costShapeOf(const GgufTensorInfo &t, const MixModelFacts &facts,
                      const GgufMetadata &metadata, const ImportanceEntry *importance)
{
    CostShape cs;
    const std::uint64_t ne1 = t.ne[1];
    const double sensitivity = fitSensitivity(t.name, facts.nLayer);
    const TensorCategory cat = tensorCategory(t.name);
    const QByteArray arch = metadata.stringOr("general.architecture").toUtf8();
    const double layerFactor = fitLayerSensitivity(t.name, facts.nLayer);
    auto partSensitivity = [&](TensorCategory part) {
        return layerFactor * fitRoleSensitivity(part);
    };
    if (cat == TensorCategory::AttnQkv && facts.nHead > 0 && facts.nHeadKv > 0 && t.ne[2] <= 1) {
        const std::uint64_t nHead = facts.nHead, nKv = facts.nHeadKv;
        std::uint64_t hdK = metadata.uintOr(arch + ".attention.key_length", 0);
        std::uint64_t hdV = metadata.uintOr(arch + ".attention.value_length", 0);
        if (hdK == 0 && ne1 % (nHead + 2 * nKv) == 0)
            hdK = ne1 / (nHead + 2 * nKv);
        if (hdV == 0)
            hdV = hdK;
        if (hdK > 0 && nHead * hdK + nKv * (hdK + hdV) == ne1) {
            cs.parts = {{nHead * hdK, partSensitivity(TensorCategory::AttnQ)},
                        {nHead * hdK + nKv * hdK, partSensitivity(TensorCategory::AttnK)},
                        {ne1, partSensitivity(TensorCategory::AttnV)}};
        }
    } else if (cat == TensorCategory::FfnUp && t.ne[2] <= 1 && !t.name.contains("_exps")
               && !t.name.contains("_shexp")) {
        const std::uint64_t nFf = metadata.uintOr(arch + ".feed_forward_length", 0);
        if (nFf > 0 && ne1 == 2 * nFf)
            cs.parts = {{nFf, sensitivity}, {ne1, sensitivity}};
    }
    if (cs.parts.empty()) {
        // Tied embeddings: token_embd.weight is the output head as well.
        const bool tied = cat == TensorCategory::TokenEmbedding && !facts.hasOutput;
        cs.parts = {{ne1, tied ? sensitivity + fitRoleSensitivity(TensorCategory::Output)
                               : sensitivity}};
    }

    const std::uint64_t nMatrices = std::max<std::uint64_t>(t.ne[2] * t.ne[3], 1);
    cs.expertWeights.assign(nMatrices, 1.0 / double(nMatrices));
    if (importance && nMatrices > 1 && importance->counts.size() == nMatrices) {
        // Add-one: an expert the calibration text never reached still counts as one token.
        double total = 0;
        for (float c : importance->counts)
            total += std::max(0.0, double(c)) + 1.0;
        for (std::uint64_t e = 0; e < nMatrices; ++e)
            cs.expertWeights[e] = (std::max(0.0, double(importance->counts[e])) + 1.0) / total;
    }
    return cs;
}

// Cost of each candidate on the sampled rows: per (expert, part) segment the relative squared
// error, weighted per column by the importance matrix; then the parts' sensitivities times their
// experts' routing-weighted mean. Experts without a sampled row leave the mean (their weights are
// renormalised over the sampled ones).
void measureCosts(const GgufTensorInfo &t, FitTensor &ft, const FitRowSource &source,
                  const std::vector<float> &importance, const CostShape &shape,
                  std::uint64_t sampleElements)
{
    const std::uint64_t ne0 = t.ne[0];
    const std::vector<std::uint64_t> rows = sampleRowsOf(t, sampleElements);
    const std::size_t nParts = shape.parts.size();
    const std::size_t nSegments = shape.expertWeights.size() * nParts;
    const std::size_t nCand = ft.candidates.size();
    std::vector<float> x(ne0), y(ne0);
    std::vector<std::uint8_t> q;
    std::vector<double> err(nCand * nSegments, 0.0);
    std::vector<double> signal(nSegments, 0.0);
    std::vector<char> sampled(nSegments, 0);
    const std::uint64_t rowsPerMatrix = std::max<std::uint64_t>(t.ne[1], 1);
    for (std::uint64_t r : rows) {
        const std::uint64_t matrix = r / rowsPerMatrix;
        const std::uint64_t inMatrix = r % rowsPerMatrix;
        std::size_t part = 0;
        while (part + 1 < nParts && inMatrix >= shape.parts[part].rowEnd)
            ++part;
        const std::size_t seg = std::size_t(matrix) * nParts + part;
        source(t, r, x.data());
        const float *imp = nullptr;
        if (!importance.empty()) {
            const std::uint64_t offset = matrix * ne0;
            if (offset + ne0 <= importance.size())
                imp = importance.data() + offset;
        }
        sampled[seg] = 1;
        for (std::uint64_t j = 0; j < ne0; ++j)
            signal[seg] += double(imp ? imp[j] : 1.0f) * double(x[j]) * double(x[j]);
        for (std::size_t c = 0; c < nCand; ++c) {
            const G type = ft.candidates[c].type;
            if (type == G::F32)
                continue;
            const TypeKernels &k = kernelsFor(type);
            q.resize(std::size_t(rowBytes(typeFacts(type), ne0)));
            k.quantizeRow(x.data(), q.data(), std::int64_t(ne0), imp);
            k.dequantizeRow(q.data(), y.data(), std::int64_t(ne0));
            double e = 0;
            for (std::uint64_t j = 0; j < ne0; ++j) {
                const double d = double(x[j]) - double(y[j]);
                e += double(imp ? imp[j] : 1.0f) * d * d;
            }
            err[c * nSegments + seg] += e;
        }
    }
    double sensitivitySum = 0;
    for (const CostShape::Part &p : shape.parts)
        sensitivitySum += p.sensitivity;
    ft.sensitivity = sensitivitySum;
    for (std::size_t c = 0; c < nCand; ++c) {
        double cost = 0;
        for (std::size_t p = 0; p < nParts; ++p) {
            double weighted = 0, weights = 0;
            for (std::size_t e = 0; e < shape.expertWeights.size(); ++e) {
                const std::size_t seg = e * nParts + p;
                if (!sampled[seg] || !(signal[seg] > 0))
                    continue;
                weighted += shape.expertWeights[e] * err[c * nSegments + seg] / signal[seg];
                weights += shape.expertWeights[e];
            }
            if (weights > 0)
                cost += shape.parts[p].sensitivity * weighted / weights;
        }
        FitCandidate &cand = ft.candidates[c];
        cand.cost = cost;
        cand.relativeError = sensitivitySum > 0 ? cost / sensitivitySum : 0.0;
    }
}

// Keeps candidates that are better than every cheaper one, then (for the greedy) the lower
// convex hull of (bytes, cost).
std::vector<std::size_t> paretoFront(const std::vector<FitCandidate> &c)
{
    std::vector<std::size_t> front;
    for (std::size_t i = 0; i < c.size(); ++i) {
        if (!front.empty() && c[i].bytes == c[front.back()].bytes) {
            if (c[i].cost < c[front.back()].cost)
                front.back() = i;
            continue;
        }
        if (front.empty() || c[i].cost < c[front.back()].cost)
            front.push_back(i);
    }
    return front;
}

std::vector<std::size_t> lowerHull(const std::vector<FitCandidate> &c,
                                   const std::vector<std::size_t> &front)
{
    std::vector<std::size_t> hull;
    for (std::size_t i : front) {
        while (hull.size() >= 2) {
            const FitCandidate &a = c[hull[hull.size() - 2]];
            const FitCandidate &b = c[hull.back()];
            const FitCandidate &n = c[i];
            // b lies on or above the segment a-n: drop it.
            const double lhs = (b.cost - a.cost) * double(n.bytes - a.bytes);
            const double rhs = (n.cost - a.cost) * double(b.bytes - a.bytes);
            if (lhs >= rhs)
                hull.pop_back();
            else
                break;
        }
        hull.push_back(i);
    }
    return hull;
}

struct Allocation {
    std::vector<std::size_t> choice; // index into candidates per tensor
    std::uint64_t bytes = 0;         // fixed + sum of padded chosen bytes
    double cost = 0;
};

// Single upgrades (any allowed candidate of more bytes and less cost) that fit, best gain per
// byte first, until none fits. Deterministic: ties go to the lower tensor index.
void fillRemaining(const std::vector<FitTensor> &ts, Allocation &a, std::uint64_t budget,
                   std::uint64_t alignment, FitBudgetKind kind)
{
    for (int iteration = 0; iteration < 100000; ++iteration) {
        double bestGain = 0;
        std::size_t bestT = 0, bestC = 0;
        bool found = false;
        for (std::size_t t = 0; t < ts.size(); ++t) {
            const FitCandidate &cur = ts[t].candidates[a.choice[t]];
            const std::uint64_t curBytes = padded(cur.bytes, alignment, kind);
            for (std::size_t c = 0; c < ts[t].candidates.size(); ++c) {
                const FitCandidate &n = ts[t].candidates[c];
                const std::uint64_t nBytes = padded(n.bytes, alignment, kind);
                if (n.cost >= cur.cost || a.bytes - curBytes + nBytes > budget)
                    continue;
                const double gain = (cur.cost - n.cost)
                                    / double(std::max<std::int64_t>(
                                        std::int64_t(nBytes) - std::int64_t(curBytes), 1));
                if (!found || gain > bestGain) {
                    found = true;
                    bestGain = gain;
                    bestT = t;
                    bestC = c;
                }
            }
        }
        if (!found)
            return;
        const FitCandidate &cur = ts[bestT].candidates[a.choice[bestT]];
        const FitCandidate &n = ts[bestT].candidates[bestC];
        a.bytes = a.bytes - padded(cur.bytes, alignment, kind) + padded(n.bytes, alignment, kind);
        a.cost += n.cost - cur.cost;
        a.choice[bestT] = bestC;
    }
}

// Exchanges: one tensor up, another down, when the pair fits and predicts less loss. Single
// upgrades stop where the slack is smaller than every upgrade's bytes (small models, whose few
// types per row width differ by whole kilobytes); a downgrade elsewhere can pay for the rest.
// For each upgrade the cheapest downgrade (in cost) that frees enough bytes is found through a
// suffix minimum over the downgrades sorted by bytes freed. Deterministic: ties go to the lower
// tensor and candidate index.
void improveByExchange(const std::vector<FitTensor> &ts, Allocation &a, std::uint64_t budget,
                       std::uint64_t alignment, FitBudgetKind kind)
{
    struct Move {
        std::int64_t bytes; // freed (downgrade) or needed (upgrade), > 0
        double cost;        // cost added (downgrade) or saved (upgrade)
        std::size_t tensor, candidate;
    };
    for (int iteration = 0; iteration < 2000; ++iteration) {
        const std::int64_t slack = std::int64_t(budget) - std::int64_t(a.bytes);
        std::vector<Move> downs, ups;
        for (std::size_t t = 0; t < ts.size(); ++t) {
            const FitCandidate &cur = ts[t].candidates[a.choice[t]];
            const std::int64_t curBytes = std::int64_t(padded(cur.bytes, alignment, kind));
            for (std::size_t c = 0; c < ts[t].candidates.size(); ++c) {
                const FitCandidate &n = ts[t].candidates[c];
                const std::int64_t d = std::int64_t(padded(n.bytes, alignment, kind)) - curBytes;
                if (d < 0)
                    downs.push_back({-d, n.cost - cur.cost, t, c});
                else if (d > slack && n.cost < cur.cost)
                    ups.push_back({d, cur.cost - n.cost, t, c});
            }
        }
        if (downs.empty() || ups.empty())
            return;
        std::sort(downs.begin(), downs.end(), [](const Move &x, const Move &y) {
            return x.bytes != y.bytes ? x.bytes < y.bytes
                                      : (x.tensor != y.tensor ? x.tensor < y.tensor
                                                              : x.candidate < y.candidate);
        });
        // Suffix minima of the added cost: the best and the best of another tensor.
        const std::size_t nd = downs.size();
        std::vector<std::size_t> best1(nd + 1, SIZE_MAX), best2(nd + 1, SIZE_MAX);
        for (std::size_t i = nd; i-- > 0;) {
            best1[i] = best1[i + 1];
            best2[i] = best2[i + 1];
            auto better = [&](std::size_t x, std::size_t y) {
                return y == SIZE_MAX || downs[x].cost < downs[y].cost;
            };
            if (better(i, best1[i])) {
                if (best1[i] != SIZE_MAX && downs[best1[i]].tensor != downs[i].tensor)
                    best2[i] = best1[i];
                best1[i] = i;
            } else if (downs[i].tensor != downs[best1[i]].tensor && better(i, best2[i])) {
                best2[i] = i;
            }
        }
        double bestNet = 0;
        const Move *bestUp = nullptr;
        const Move *bestDown = nullptr;
        for (const Move &u : ups) {
            const std::int64_t need = u.bytes - slack;
            const auto it = std::lower_bound(downs.begin(), downs.end(), need,
                                             [](const Move &m, std::int64_t v) { return m.bytes < v; });
            const std::size_t i = std::size_t(it - downs.begin());
            if (i >= nd)
                continue;
            std::size_t j = best1[i];
            if (downs[j].tensor == u.tensor)
                j = best2[i];
            if (j == SIZE_MAX)
                continue;
            const double net = u.cost - downs[j].cost;
            // A relative margin, so that rounding never makes two moves cycle.
            if (net > 1e-12 * (std::abs(a.cost) + 1e-300) && net > bestNet) {
                bestNet = net;
                bestUp = &u;
                bestDown = &downs[j];
            }
        }
        if (!bestUp)
            return;
        for (const Move *m : {bestUp, bestDown}) {
            const FitCandidate &cur = ts[m->tensor].candidates[a.choice[m->tensor]];
            const FitCandidate &n = ts[m->tensor].candidates[m->candidate];
            a.bytes = a.bytes - padded(cur.bytes, alignment, kind) + padded(n.bytes, alignment, kind);
            a.cost += n.cost - cur.cost;
            a.choice[m->tensor] = m->candidate;
        }
        fillRemaining(ts, a, budget, alignment, kind);
    }
}

// Greedy by marginal gain along each tensor's lower convex hull.
Allocation greedyAllocation(const std::vector<FitTensor> &ts, std::uint64_t fixedBytes,
                            std::uint64_t budget, std::uint64_t alignment, FitBudgetKind kind)
{
    Allocation a;
    a.choice.resize(ts.size());
    a.bytes = fixedBytes;
    std::vector<std::vector<std::size_t>> hulls(ts.size());
    std::vector<std::size_t> position(ts.size(), 0);
    for (std::size_t t = 0; t < ts.size(); ++t) {
        hulls[t] = lowerHull(ts[t].candidates, paretoFront(ts[t].candidates));
        a.choice[t] = hulls[t].front();
        a.bytes += padded(ts[t].candidates[a.choice[t]].bytes, alignment, kind);
        a.cost += ts[t].candidates[a.choice[t]].cost;
    }
    if (a.bytes > budget)
        return a;
    struct Step {
        double gain;
        std::size_t tensor;
        bool operator<(const Step &o) const
        {
            return gain != o.gain ? gain < o.gain : tensor > o.tensor;
        }
    };
    auto stepOf = [&](std::size_t t) -> std::optional<Step> {
        if (position[t] + 1 >= hulls[t].size())
            return std::nullopt;
        const FitCandidate &cur = ts[t].candidates[hulls[t][position[t]]];
        const FitCandidate &n = ts[t].candidates[hulls[t][position[t] + 1]];
        const double dBytes = double(padded(n.bytes, alignment, kind))
                              - double(padded(cur.bytes, alignment, kind));
        return Step{(cur.cost - n.cost) / std::max(dBytes, 1.0), t};
    };
    std::priority_queue<Step> queue;
    for (std::size_t t = 0; t < ts.size(); ++t) {
        if (const auto s = stepOf(t))
            queue.push(*s);
    }
    while (!queue.empty()) {
        const Step s = queue.top();
        queue.pop();
        const std::size_t t = s.tensor;
        const FitCandidate &cur = ts[t].candidates[hulls[t][position[t]]];
        const FitCandidate &n = ts[t].candidates[hulls[t][position[t] + 1]];
        const std::uint64_t newBytes =
            a.bytes - padded(cur.bytes, alignment, kind) + padded(n.bytes, alignment, kind);
        if (newBytes > budget)
            continue; // later hull steps of this tensor are larger still
        a.bytes = newBytes;
        a.cost += n.cost - cur.cost;
        ++position[t];
        a.choice[t] = hulls[t][position[t]];
        if (const auto next = stepOf(t))
            queue.push(*next);
    }
    fillRemaining(ts, a, budget, alignment, kind);
    improveByExchange(ts, a, budget, alignment, kind);
    return a;
}

void refuseTypeOptions(const QuantOptions &o)
{
    auto refuse = [](const char *what) {
        throw Error(QStringLiteral("%1 cannot be combined with a fitted mix (the fit chooses "
                                   "every tensor's type)")
                        .arg(QLatin1String(what)));
    };
    if (o.pure)
        refuse("--pure");
    if (o.leaveOutputTensor)
        refuse("--leave-output-tensor");
    if (o.outputTensorType)
        refuse("--output-tensor-type");
    if (o.tokenEmbeddingType)
        refuse("--token-embedding-type");
    if (!o.tensorTypes.empty())
        refuse("--tensor-type");
    if (!o.pruneLayers.empty())
        refuse("--prune-layers");
    if (o.keepSplit)
        refuse("--keep-split");
}

} // namespace

const FitCandidate &FitTensor::chosen() const
{
    for (const FitCandidate &c : candidates) {
        if (c.type == type)
            return c;
    }
    Q_ASSERT(false);
    return candidates.front();
}

GgmlType fitProbeType(const std::vector<FitCandidate> &candidates)
{
    Q_ASSERT(!candidates.empty());
    for (G preferred : {G::Q4_K, G::Q4_0}) {
        for (const FitCandidate &c : candidates) {
            if (c.type == preferred)
                return c.type;
        }
    }
    return candidates[candidates.size() / 2].type;
}

std::vector<std::uint8_t> quantizeFitProbe(const FitProbe &probe, const FitRowSource &rows,
                                           int nThreads, JobContext &ctx)
{
    const GgufTensorInfo &t = probe.tensor;
    const TypeKernels &k = kernelsFor(probe.type);
    if (!k.quantizeRow)
        throw Error(QStringLiteral("tensor %1: type %2 cannot be written")
                        .arg(QString::fromUtf8(t.name), ggmlTypeName(probe.type)));
    const std::uint64_t ne0 = t.ne[0];
    const std::uint64_t nRows = t.nRows();
    const std::uint64_t rowsPerMatrix = std::max<std::uint64_t>(t.ne[1], 1);
    const std::uint64_t rb = rowBytes(typeFacts(probe.type), ne0);
    std::vector<std::uint8_t> out(std::size_t(rb * nRows));
    const std::vector<float> &importance = *probe.importance;
    // Row chunks of about 64k values: enough work per chunk, cancellation well under a second.
    const std::uint64_t rowsPerChunk =
        std::max<std::uint64_t>(1, 65536 / std::max<std::uint64_t>(ne0, 1));
    const std::uint64_t nChunks = (nRows + rowsPerChunk - 1) / rowsPerChunk;
    parallelFor(
        nChunks, nThreads,
        [&](std::uint64_t chunk) {
            std::vector<float> x(static_cast<std::size_t>(ne0));
            const std::uint64_t end = std::min(nRows, (chunk + 1) * rowsPerChunk);
            for (std::uint64_t r = chunk * rowsPerChunk; r < end; ++r) {
                rows(t, r, x.data());
                const std::uint64_t offset = (r / rowsPerMatrix) * ne0;
                const float *imp = !importance.empty() && offset + ne0 <= importance.size()
                                       ? importance.data() + offset
                                       : nullptr;
                k.quantizeRow(x.data(), out.data() + r * rb, std::int64_t(ne0), imp);
            }
        },
        &ctx);
    return out;
}

double fitRoleSensitivity(TensorCategory c)
{
    if (c == TensorCategory::Output)
        return 2.0;
    if (c == TensorCategory::TokenEmbedding)
        return 4.0;
    return 1.0;
}

double fitLayerSensitivity(const QByteArray &name, std::uint32_t nLayers)
{
    if (name.startsWith("blk.") && nLayers >= 8) {
        const qsizetype dot = name.indexOf('.', 4);
        bool ok = false;
        const int layer = name.mid(4, dot - 4).toInt(&ok);
        if (ok && (layer < int(nLayers / 8) || layer >= int(7 * nLayers / 8)))
            return 1.5;
    }
    return 1.0;
}

double fitSensitivity(const QByteArray &name, std::uint32_t nLayers)
{
    return fitRoleSensitivity(tensorCategory(name)) * fitLayerSensitivity(name, nLayers);
}

FitRowSource fileRowSource(const GgufFile &file)
{
    return [&file](const GgufTensorInfo &t, std::uint64_t row, float *dst) {
        const std::span<const std::uint8_t> data = file.tensorData(t);
        const std::uint64_t rb = t.rowBytes();
        const std::uint8_t *src = data.data() + row * rb;
        if (t.type == G::F32) {
            std::memcpy(dst, src, std::size_t(t.ne[0] * sizeof(float)));
            return;
        }
        const auto dequantize = kernelsFor(t.type).dequantizeRow;
        if (!dequantize)
            throw Error(QStringLiteral("tensor %1: type %2 cannot be read")
                            .arg(QString::fromUtf8(t.name), ggmlTypeName(t.type)));
        dequantize(src, dst, std::int64_t(t.ne[0]));
    };
}

FitRowSource syntheticRowSource()
{
    return [](const GgufTensorInfo &t, std::uint64_t row, float *dst) {
        std::mt19937_64 rng(fnv1a(t.name, row));
        std::normal_distribution<float> normal(0.0f, 1.0f);
        std::chi_squared_distribution<float> chi2(5.0f);
        const float scale = 0.02f * std::exp(0.3f * normal(rng));
        for (std::uint64_t j = 0; j < t.ne[0]; ++j)
            dst[j] = scale * normal(rng) / std::sqrt(chi2(rng) / 5.0f);
    };
}

std::uint64_t parseByteSize(const QString &text)
{
    static const QRegularExpression re(
        QStringLiteral("^\\s*([0-9]+(?:\\.[0-9]+)?)\\s*([kmgt]i?b|b)?\\s*$"),
        QRegularExpression::CaseInsensitiveOption);
    const auto m = re.match(text);
    if (!m.hasMatch())
        throw Error(QStringLiteral("'%1' is not a size (expected a number with B, KB, MB, GB, TB "
                                   "or KiB, MiB, GiB, TiB, e.g. 38GB)")
                        .arg(text));
    const double value = m.captured(1).toDouble();
    const QString unit = m.captured(2).toLower();
    double factor = 1;
    if (!unit.isEmpty() && unit != u"b") {
        const int power = int(QStringLiteral("kmgt").indexOf(unit.front())) + 1;
        factor = std::pow(unit.contains(QLatin1Char('i')) ? 1024.0 : 1000.0, power);
    }
    const double bytes = value * factor;
    if (!(bytes >= 1) || bytes > 1e18)
        throw Error(QStringLiteral("size '%1' is out of range").arg(text));
    return std::uint64_t(bytes);
}

FitResult fitMix(const GgufMetadata &metadata, const std::vector<GgufTensorInfo> &tensors,
                 const FitOptions &options, const FitRowSource &rows, JobContext &ctx)
{
    refuseTypeOptions(options.base);
    if (options.budgetBytes == 0)
        throw Error(QStringLiteral("the size budget must be more than 0 bytes"));
    const bool withImatrix = options.imatrix != nullptr;
    const FitBudgetKind kind = options.budgetKind;
    FitResult result;
    result.budgetBytes = options.budgetBytes;

    //
    // the standard mixes and the base mix
    //
    std::vector<std::pair<F, QuantPlan>> plans;
    QString firstProblem;
    for (F f : standardMixes(withImatrix)) {
        QuantOptions o = options.base;
        o.hasImatrix = withImatrix;
        try {
            QuantPlan p = makeQuantPlan(metadata, tensors, f, o);
            if (!p.isWritable()) {
                if (firstProblem.isEmpty())
                    firstProblem = p.refusal.isEmpty()
                                       ? QStringLiteral("%1 cannot be written by this build")
                                             .arg(fileTypeName(f))
                                       : p.refusal;
                continue;
            }
            plans.emplace_back(f, std::move(p));
        } catch (const Error &e) {
            // A mix this model cannot be written in is not a comparison point.
            if (firstProblem.isEmpty())
                firstProblem = e.message();
        }
    }
    if (plans.empty())
        throw Error(QStringLiteral("no standard mix can be planned for this model, so there is "
                                   "nothing to fit between: %1")
                        .arg(firstProblem));
    std::sort(plans.begin(), plans.end(), [&](const auto &a, const auto &b) {
        return measureOf(a.second, kind) < measureOf(b.second, kind);
    });
    for (const auto &[f, p] : plans)
        result.standardMixes.emplace_back(f, measureOf(p, kind));
    std::size_t baseIndex = 0;
    for (std::size_t i = 0; i < plans.size(); ++i) {
        if (measureOf(plans[i].second, kind) <= options.budgetBytes)
            baseIndex = i;
    }
    result.baseMix = plans[baseIndex].first;
    result.baseMixBytes = measureOf(plans[baseIndex].second, kind);

    // The note is fixed before the allocation so that the header size is known.
    const QString budgetKindText =
        kind == FitBudgetKind::FileBytes ? QStringLiteral("file") : QStringLiteral("tensor data");
    const bool calibrated = bool(options.calibrate);
    result.note = QStringLiteral("QuantFit fitted mix: %1 (%2 bytes of %3); floors from %4; cost = "
                                 "%5squared error of sampled rows per candidate type x %6; "
                                 "greedy by marginal gain per byte, then exchanges")
                      .arg(options.budgetText.isEmpty() ? QStringLiteral("budget")
                                                        : options.budgetText)
                      .arg(options.budgetBytes)
                      .arg(budgetKindText, fileTypeName(result.baseMix),
                           withImatrix ? QStringLiteral("imatrix-weighted ") : QString(),
                           calibrated
                               ? QStringLiteral("measured sensitivity (calibrated: %1%2)")
                                     .arg(options.calibrationText,
                                          options.sensitivityReason.isEmpty()
                                              ? QString()
                                              : QStringLiteral("; ") + options.sensitivityReason)
                           : options.sensitivityReason.isEmpty()
                               ? QStringLiteral("sensitivity")
                               : QStringLiteral("documented sensitivity (%1)")
                                     .arg(options.sensitivityReason));
    QuantOptions planOptions = options.base;
    planOptions.hasImatrix = withImatrix;
    planOptions.metadataOverrides.push_back(
        {QByteArrayLiteral("quantize.recipe"), GgufValue::fromString(result.note)});
    const QuantPlan basePlan = makeQuantPlan(metadata, tensors, result.baseMix, planOptions);

    //
    // candidates per tensor
    //
    const MixModelFacts facts = mixModelFacts(metadata, tensors);
    const std::uint64_t alignment = [&] {
        const GgufValue *v = metadata.find("general.alignment");
        return v ? v->toUInt64() : std::uint64_t(32);
    }();
    std::vector<std::size_t> planIndex;
    std::uint64_t candidateBytes = 0;
    for (std::size_t i = 0; i < basePlan.tensors.size(); ++i) {
        const PlannedTensor &p = basePlan.tensors[i];
        if (p.decidedBy == TypeDecision::NotCandidate)
            continue;
        planIndex.push_back(i);
        candidateBytes += padded(p.targetBytes, alignment, kind);
    }
    const std::uint64_t fixedBytes = measureOf(basePlan, kind) - candidateBytes;

    std::vector<std::vector<float>> importance(planIndex.size());
    std::vector<CostShape> shapes(planIndex.size());
    std::vector<FitTensor> fit(planIndex.size());
    for (std::size_t k = 0; k < planIndex.size(); ++k) {
        const PlannedTensor &p = basePlan.tensors[planIndex[k]];
        FitTensor &ft = fit[k];
        ft.name = p.name;
        ft.role = tensorRole(p.name);
        ft.baseType = p.targetType;
        const TensorCategory cat = tensorCategory(p.name);
        // llama-quantize's protections that no mix lowers: output, token embedding, attn_v of
        // GQA models, and attn_k of 8-expert models (Q8_0 in every mix: "bumping this to Q8_0
        // trades just ~128MB", src/llama-quant.cpp). Measured on the 8-expert references, every
        // fit that took bits from attn_k there lost to the standard mix.
        ft.isProtected = cat == TensorCategory::Output || cat == TensorCategory::TokenEmbedding
                         || (isAttnVLike(cat) && facts.nGqa() > 1)
                         || (cat == TensorCategory::AttnK && facts.nExpert == 8);
        const ImportanceEntry *entry = nullptr;
        if (options.imatrix) {
            if (const ImportanceEntry *e = options.imatrix->find(p.source.name)) {
                if (e->nColumns == p.source.ne[0]) {
                    importance[k] = e->importance();
                    entry = e;
                }
            }
        }
        shapes[k] = costShapeOf(p.source, facts, metadata, entry);
        ft.sensitivity = 0;
        for (const CostShape::Part &part : shapes[k].parts)
            ft.sensitivity += part.sensitivity;
        std::vector<G> types = plainCandidates();
        if (withImatrix)
            types.insert(types.end(), iquantCandidates().begin(), iquantCandidates().end());
        if (std::find(types.begin(), types.end(), ft.baseType) == types.end())
            types.push_back(ft.baseType);
        for (G type : types) {
            const TypeFacts &tf = typeFacts(type);
            if (p.source.ne[0] % tf.blockSize != 0 || !isWritableType(type))
                continue;
            if (typeRequiresImportance(type) && importance[k].empty())
                continue;
            ft.candidates.push_back({type, tensorBytes(type, p.source.ne), 0, 0});
        }
        if (ft.candidates.empty())
            throw Error(QStringLiteral("tensor %1: no type we write fits its rows of %2 values")
                            .arg(QString::fromUtf8(ft.name))
                            .arg(p.source.ne[0]));
        std::sort(ft.candidates.begin(), ft.candidates.end(), [](const auto &a, const auto &b) {
            return a.bytes != b.bytes ? a.bytes < b.bytes : a.type < b.type;
        });
    }

    //
    // measured costs
    //
    QElapsedTimer timer;
    timer.start();
    ctx.setStage(QStringLiteral("Measuring tensor costs"), fit.size());
    parallelFor(
        fit.size(), options.nThreads,
        [&](std::uint64_t k) {
            measureCosts(basePlan.tensors[planIndex[k]].source, fit[k], rows, importance[k],
                         shapes[k], options.sampleElements);
            ctx.advance(1);
        },
        &ctx);
    result.costSeconds = double(timer.nsecsElapsed()) / 1e9;
    timer.restart();

    //
    // measured sensitivity (calibration)
    //
    if (calibrated) {
        std::vector<FitProbe> probes(fit.size());
        std::vector<std::size_t> probeIndex(fit.size());
        for (std::size_t k = 0; k < fit.size(); ++k) {
            FitTensor &ft = fit[k];
            ft.probeType = fitProbeType(ft.candidates);
            const auto it =
                std::find_if(ft.candidates.begin(), ft.candidates.end(),
                             [&](const FitCandidate &c) { return c.type == ft.probeType; });
            probeIndex[k] = std::size_t(it - ft.candidates.begin());
            probes[k] = {basePlan.tensors[planIndex[k]].source, ft.probeType, it->relativeError,
                         &importance[k]};
        }
        const std::vector<double> kld = options.calibrate(probes, ctx);
        if (kld.size() != fit.size())
            throw Error(QStringLiteral("internal: calibration measured %1 tensors of %2")
                            .arg(kld.size())
                            .arg(fit.size()));
        for (std::size_t k = 0; k < fit.size(); ++k) {
            FitTensor &ft = fit[k];
            ft.measuredKld = std::max(0.0, kld[k]);
            const double probeError = ft.candidates[probeIndex[k]].relativeError;
            // A probe without error (a tensor its probe type represents exactly) gives no ratio:
            // the documented sensitivity stays.
            if (!(probeError > 0))
                continue;
            ft.sensitivity = ft.measuredKld / probeError;
            for (FitCandidate &c : ft.candidates)
                c.cost = c.relativeError * ft.sensitivity;
            // Exactly the measurement, not its product with a rounded ratio.
            ft.candidates[probeIndex[k]].cost = ft.measuredKld;
        }
        result.calibrated = true;
        result.calibrationText = options.calibrationText;
        result.calibrationSeconds = double(timer.nsecsElapsed()) / 1e9;
        timer.restart();
    }

    // Floors: a protected tensor keeps only candidates at least as large and as good as its
    // base type.
    for (FitTensor &ft : fit) {
        if (!ft.isProtected)
            continue;
        const auto base = std::find_if(ft.candidates.begin(), ft.candidates.end(),
                                       [&](const FitCandidate &c) { return c.type == ft.baseType; });
        if (base == ft.candidates.end())
            continue;
        const FitCandidate floor = *base;
        std::erase_if(ft.candidates, [&](const FitCandidate &c) {
            return c.type != floor.type && (c.bytes < floor.bytes || c.cost > floor.cost);
        });
    }

    //
    // allocation
    //
    Allocation best = greedyAllocation(fit, fixedBytes, options.budgetBytes, alignment, kind);
    if (best.bytes > options.budgetBytes)
        throw Error(QStringLiteral("the budget of %1 bytes (%2) is below the smallest fitted "
                                   "size of this model, %3 bytes (every tensor at its smallest "
                                   "candidate, protected ones at %4's types)")
                        .arg(options.budgetBytes)
                        .arg(budgetKindText)
                        .arg(best.bytes)
                        .arg(fileTypeName(result.baseMix)));
    // Every standard mix's own assignment that fits, improved by single upgrades, is a second
    // starting point: the greedy is optimal only up to one hull step per tensor, and a mix
    // shaped by llama.cpp's rules sometimes packs a budget better.
    for (const auto &[mixType, mixPlan] : plans) {
        Allocation start;
        start.bytes = fixedBytes;
        bool complete = true;
        for (std::size_t k = 0; k < fit.size() && complete; ++k) {
            const FitTensor &ft = fit[k];
            // A tensor that costs nothing in any type (calibration measured no effect on the
            // output) takes its smallest candidate, so its bytes go to tensors that matter.
            const bool free = std::all_of(ft.candidates.begin(), ft.candidates.end(),
                                          [](const FitCandidate &c) { return c.cost == 0; });
            const G type = free ? ft.candidates.front().type
                                : mixPlan.tensors[planIndex[k]].targetType;
            const auto it = std::find_if(ft.candidates.begin(), ft.candidates.end(),
                                         [&](const FitCandidate &c) { return c.type == type; });
            complete = it != ft.candidates.end();
            if (!complete)
                break;
            start.choice.push_back(std::size_t(it - ft.candidates.begin()));
            start.bytes += padded(it->bytes, alignment, kind);
            start.cost += it->cost;
        }
        if (mixType == result.baseMix) {
            double cost = 0;
            for (std::size_t k = 0; k < fit.size(); ++k) {
                const G type = mixPlan.tensors[planIndex[k]].targetType;
                for (const FitCandidate &c : fit[k].candidates)
                    cost += c.type == type ? c.cost : 0;
            }
            result.baseMixCost = cost;
        }
        if (!complete || start.bytes > options.budgetBytes)
            continue;
        fillRemaining(fit, start, options.budgetBytes, alignment, kind);
        improveByExchange(fit, start, options.budgetBytes, alignment, kind);
        if (start.cost < best.cost)
            best = start;
    }

    // The real plan decides; the header or the last tensor's padding may differ by a few bytes
    // from the estimate, so step down the cheapest way until it fits.
    for (int attempt = 0;; ++attempt) {
        std::vector<GgufTensorInfo> chosenList;
        for (std::size_t k = 0; k < fit.size(); ++k) {
            fit[k].type = fit[k].candidates[best.choice[k]].type;
            GgufTensorInfo info = basePlan.tensors[planIndex[k]].source;
            info.type = fit[k].type;
            chosenList.push_back(info);
        }
        result.recipe = makeRecipe(chosenList);
        result.options = planOptions;
        result.options.tensorTypes = recipeOverrides(result.recipe);
        result.predictedCost = best.cost;
        const std::uint64_t estimate = best.bytes;
        // Named after the standard mix nearest in size (general.file_type).
        std::uint64_t bestDistance = UINT64_MAX;
        for (const auto &[f, bytes] : result.standardMixes) {
            const std::uint64_t d = bytes > estimate ? bytes - estimate : estimate - bytes;
            if (d < bestDistance) {
                bestDistance = d;
                result.nearestMix = f;
            }
        }
        result.plan = makeQuantPlan(metadata, tensors, result.nearestMix, result.options);
        result.fittedBytes = measureOf(result.plan, kind);
        if (result.fittedBytes <= options.budgetBytes)
            break;
        // Over by the padding estimate: the downgrade that loses least per byte saved.
        double bestLoss = 0;
        std::optional<std::pair<std::size_t, std::size_t>> step;
        for (std::size_t k = 0; k < fit.size(); ++k) {
            const FitCandidate &cur = fit[k].candidates[best.choice[k]];
            for (std::size_t c = 0; c < fit[k].candidates.size(); ++c) {
                const FitCandidate &n = fit[k].candidates[c];
                if (n.bytes >= cur.bytes)
                    continue;
                const double loss = (n.cost - cur.cost) / double(cur.bytes - n.bytes);
                if (!step || loss < bestLoss) {
                    bestLoss = loss;
                    step = std::pair{k, c};
                }
            }
        }
        if (!step || attempt > 64)
            throw Error(QStringLiteral("the budget of %1 bytes cannot be met: the smallest "
                                       "fitted plan has %2 bytes")
                            .arg(options.budgetBytes)
                            .arg(result.fittedBytes));
        const FitCandidate &cur = fit[step->first].candidates[best.choice[step->first]];
        const FitCandidate &n = fit[step->first].candidates[step->second];
        best.cost += n.cost - cur.cost;
        best.bytes -= padded(cur.bytes, alignment, kind) - padded(n.bytes, alignment, kind);
        best.choice[step->first] = step->second;
    }
    for (std::size_t k = 0; k < fit.size(); ++k) {
        if (result.plan.tensors[planIndex[k]].targetType != fit[k].type)
            throw Error(QStringLiteral("internal: the fitted recipe gives %1 %2 instead of %3")
                            .arg(QString::fromUtf8(fit[k].name),
                                 ggmlTypeName(result.plan.tensors[planIndex[k]].targetType),
                                 ggmlTypeName(fit[k].type)));
    }
    result.tensors = std::move(fit);
    result.allocationSeconds = double(timer.nsecsElapsed()) / 1e9;
    return result;
}

} // namespace QuantFit
