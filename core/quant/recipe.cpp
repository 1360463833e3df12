#include "recipe.h"

#include "quantmix.h"

#include <QHash>
#include <QRegularExpression>

#include <map>

namespace QuantFit {

namespace {

bool startsWithAny(const QByteArray &name, std::initializer_list<const char *> prefixes)
{
    for (const char *p : prefixes) {
        if (name.startsWith(p))
            return true;
    }
    return false;
}

// `blk.N.SUFFIX`: N and SUFFIX; nullopt for names outside the layers.
std::optional<std::pair<int, QByteArray>> splitLayerName(const QByteArray &name)
{
    if (!name.startsWith("blk."))
        return std::nullopt;
    const qsizetype dot = name.indexOf('.', 4);
    if (dot <= 4 || dot + 1 >= name.size())
        return std::nullopt;
    bool ok = false;
    const int layer = name.mid(4, dot - 4).toInt(&ok);
    // Only plain decimal numbers: "blk.+1." must stay an exact name.
    for (qsizetype i = 4; i < dot; ++i) {
        if (name[i] < '0' || name[i] > '9')
            ok = false;
    }
    if (!ok)
        return std::nullopt;
    return std::pair{layer, name.mid(dot + 1)};
}

QString escaped(const QByteArray &text)
{
    return QRegularExpression::escape(QString::fromUtf8(text));
}

} // namespace

QString tensorRoleName(TensorRole role)
{
    switch (role) {
    case TensorRole::Attention: return QStringLiteral("attention");
    case TensorRole::Ffn: return QStringLiteral("ffn");
    case TensorRole::Experts: return QStringLiteral("experts");
    case TensorRole::Embeddings: return QStringLiteral("embeddings");
    case TensorRole::Output: return QStringLiteral("output");
    case TensorRole::Other: return QStringLiteral("other");
    }
    return {};
}

TensorRole tensorRole(const QByteArray &name)
{
    if (name == "output.weight" || name.startsWith("output_norm") || name == "output.bias")
        return TensorRole::Output;
    if (startsWithAny(name, {"token_embd", "per_layer_token_embd", "position_embd", "token_types"}))
        return TensorRole::Embeddings;
    if (name.contains("_exps"))
        return TensorRole::Experts;
    if (name.contains(".attn_") || name.startsWith("attn_"))
        return TensorRole::Attention;
    if (name.contains(".ffn_") || name.startsWith("ffn_"))
        return TensorRole::Ffn;
    return TensorRole::Other;
}

//
// recipe compression
//

std::vector<RecipeLine> makeRecipe(const std::vector<GgufTensorInfo> &tensors)
{
    // Groups in order of first appearance: one per layer suffix, one per exact name.
    struct Member {
        int layer = -1;
        GgmlType type = GgmlType::F32;
    };
    struct Group {
        QByteArray key; // suffix, or the whole name when exact
        bool perLayer = false;
        std::vector<Member> members;
    };
    std::vector<Group> groups;
    QHash<QByteArray, std::size_t> bySuffix;
    const QuantOptions defaults;
    for (const GgufTensorInfo &t : tensors) {
        if (!isQuantizableTensor(t, defaults))
            continue;
        const auto split = splitLayerName(t.name);
        if (!split) {
            groups.push_back({t.name, false, {{-1, t.type}}});
            continue;
        }
        const auto it = bySuffix.constFind(split->second);
        if (it == bySuffix.constEnd()) {
            bySuffix.insert(split->second, groups.size());
            groups.push_back({split->second, true, {{split->first, t.type}}});
        } else {
            groups[*it].members.push_back({split->first, t.type});
        }
    }

    std::vector<RecipeLine> lines;
    for (const Group &g : groups) {
        if (!g.perLayer) {
            lines.push_back({QLatin1Char('^') + escaped(g.key) + QLatin1Char('$'),
                             g.members.front().type, 1});
            continue;
        }
        const QString tail = QStringLiteral("\\.") + escaped(g.key) + QLatin1Char('$');
        const bool uniform = std::all_of(g.members.begin(), g.members.end(), [&](const Member &m) {
            return m.type == g.members.front().type;
        });
        if (uniform) {
            lines.push_back({QStringLiteral("^blk\\.[0-9]+") + tail, g.members.front().type,
                             int(g.members.size())});
            continue;
        }
        // One line per type, types in order of their first layer, layers ascending.
        std::vector<GgmlType> order;
        std::map<GgmlType, std::vector<int>> layers;
        for (const Member &m : g.members) {
            if (!layers.count(m.type))
                order.push_back(m.type);
            layers[m.type].push_back(m.layer);
        }
        for (GgmlType type : order) {
            std::vector<int> &ls = layers[type];
            std::sort(ls.begin(), ls.end());
            ls.erase(std::unique(ls.begin(), ls.end()), ls.end());
            QStringList numbers;
            for (int l : ls)
                numbers << QString::number(l);
            const QString alternatives = numbers.size() == 1
                                             ? numbers.front()
                                             : QLatin1Char('(') + numbers.join(QLatin1Char('|'))
                                                   + QLatin1Char(')');
            int n = 0;
            for (const Member &m : g.members)
                n += m.type == type;
            lines.push_back({QStringLiteral("^blk\\.") + alternatives + tail, type, n});
        }
    }
    return lines;
}

QString recipeText(const std::vector<RecipeLine> &recipe)
{
    QString text;
    for (const RecipeLine &l : recipe)
        text += l.pattern + QLatin1Char('=') + ggmlTypeName(l.type) + QLatin1Char('\n');
    return text;
}

std::vector<TensorTypeOverride> recipeOverrides(const std::vector<RecipeLine> &recipe)
{
    std::vector<TensorTypeOverride> items;
    items.reserve(recipe.size());
    for (const RecipeLine &l : recipe)
        items.push_back({l.pattern.toLower(), l.type});
    return items;
}

//
// diff
//

TensorListDiff diffTensorLists(const std::vector<GgufTensorInfo> &a,
                               const std::vector<GgufTensorInfo> &b)
{
    TensorListDiff d;
    QHash<QByteArray, const GgufTensorInfo *> inB;
    for (const GgufTensorInfo &t : b)
        inB.insert(t.name, &t);
    QHash<QByteArray, bool> inA;
    std::map<TensorRole, RoleTotals> roles;
    auto totals = [&](TensorRole r) -> RoleTotals & {
        RoleTotals &t = roles[r];
        t.role = r;
        return t;
    };
    for (const GgufTensorInfo &t : a) {
        inA.insert(t.name, true);
        const TensorRole role = tensorRole(t.name);
        RoleTotals &rt = totals(role);
        ++rt.nTensorsA;
        rt.bytesA += t.nBytes;
        d.bytesA += t.nBytes;
        const GgufTensorInfo *other = inB.value(t.name, nullptr);
        const bool shapeDiffers = other && (other->ne != t.ne || other->nDims != t.nDims);
        if (other && other->type == t.type && !shapeDiffers) {
            ++d.nSame;
            continue;
        }
        TensorDifference diff;
        diff.name = t.name;
        diff.role = role;
        diff.typeA = t.type;
        diff.bytesA = t.nBytes;
        if (other) {
            diff.typeB = other->type;
            diff.bytesB = other->nBytes;
            diff.shapeDiffers = shapeDiffers;
        }
        ++rt.nChanged;
        d.changed.push_back(diff);
    }
    for (const GgufTensorInfo &t : b) {
        const TensorRole role = tensorRole(t.name);
        RoleTotals &rt = totals(role);
        ++rt.nTensorsB;
        rt.bytesB += t.nBytes;
        d.bytesB += t.nBytes;
        if (inA.contains(t.name))
            continue;
        ++rt.nChanged;
        TensorDifference diff;
        diff.name = t.name;
        diff.role = role;
        diff.typeB = t.type;
        diff.bytesB = t.nBytes;
        d.changed.push_back(diff);
    }
    for (auto &[role, t] : roles)
        d.roles.push_back(t);
    return d;
}

} // namespace QuantFit
