// quantfit-cli diff A.gguf B.gguf [--json] [--all]: per-tensor type and size differences of two
// models and the tensor bytes per role (attention, FFN, experts, embeddings, output, other).
// Reads headers only.

#include "cliargs.h"
#include "command.h"

#include "gguf/ggufreader.h"
#include "quant/recipe.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <cmath>

namespace QuantFit::Cli {

namespace {

QString typeText(const std::optional<GgmlType> &t)
{
    return t ? ggmlTypeName(*t) : QStringLiteral("-");
}

QString signedBytes(std::uint64_t a, std::uint64_t b)
{
    const double d = double(b) - double(a);
    return (d >= 0 ? QStringLiteral("+") : QStringLiteral("-")) + formatBytes(std::uint64_t(std::abs(d)));
}

int runDiff(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("Compares the tensors of two GGUF models: every tensor whose type, shape "
                       "or presence differs, and the tensor bytes per role in each file."));
    parser.addPositionalArgument(QStringLiteral("A.gguf"), QStringLiteral("First model."));
    parser.addPositionalArgument(QStringLiteral("B.gguf"), QStringLiteral("Second model."));
    const QCommandLineOption json(QStringLiteral("json"), QStringLiteral("Machine-readable output."));
    parser.addOption(json);
    if (!parseArgs(parser, QStringLiteral("diff"), args, 2, 2))
        return 0;
    const QStringList pos = parser.positionalArguments();
    const GgufFile a = GgufFile::open(pos.at(0), GgufFile::Mode::MetadataOnly);
    const GgufFile b = GgufFile::open(pos.at(1), GgufFile::Mode::MetadataOnly);
    const TensorListDiff d = diffTensorLists(a.tensors(), b.tensors());

    if (parser.isSet(json)) {
        QJsonArray changed;
        for (const TensorDifference &t : d.changed)
            changed.append(QJsonObject{
                {QStringLiteral("name"), QString::fromUtf8(t.name)},
                {QStringLiteral("role"), tensorRoleName(t.role)},
                {QStringLiteral("typeA"), t.typeA ? QJsonValue(ggmlTypeName(*t.typeA)) : QJsonValue()},
                {QStringLiteral("typeB"), t.typeB ? QJsonValue(ggmlTypeName(*t.typeB)) : QJsonValue()},
                {QStringLiteral("bytesA"), double(t.bytesA)},
                {QStringLiteral("bytesB"), double(t.bytesB)},
                {QStringLiteral("shapeDiffers"), t.shapeDiffers}});
        QJsonArray roles;
        for (const RoleTotals &r : d.roles)
            roles.append(QJsonObject{{QStringLiteral("role"), tensorRoleName(r.role)},
                                     {QStringLiteral("tensorsA"), r.nTensorsA},
                                     {QStringLiteral("tensorsB"), r.nTensorsB},
                                     {QStringLiteral("bytesA"), double(r.bytesA)},
                                     {QStringLiteral("bytesB"), double(r.bytesB)},
                                     {QStringLiteral("changed"), r.nChanged}});
        const QJsonObject o{{QStringLiteral("a"), pos.at(0)},
                            {QStringLiteral("b"), pos.at(1)},
                            {QStringLiteral("tensorBytesA"), double(d.bytesA)},
                            {QStringLiteral("tensorBytesB"), double(d.bytesB)},
                            {QStringLiteral("fileBytesA"), double(a.totalFileSize())},
                            {QStringLiteral("fileBytesB"), double(b.totalFileSize())},
                            {QStringLiteral("same"), d.nSame},
                            {QStringLiteral("changed"), changed},
                            {QStringLiteral("roles"), roles}};
        out(QString::fromUtf8(QJsonDocument(o).toJson(QJsonDocument::Indented)));
        return 0;
    }

    QString s = QStringLiteral("A: %1 (%2)\nB: %3 (%4)\n")
                    .arg(pos.at(0), formatBytes(a.totalFileSize()), pos.at(1),
                         formatBytes(b.totalFileSize()));
    s += QStringLiteral("%1 tensors the same, %2 differ\n").arg(d.nSame).arg(d.changed.size());
    if (!d.changed.empty()) {
        s += QStringLiteral("\n  %1 %2 %3 %4 %5 %6\n")
                 .arg(QStringLiteral("tensor"), -40)
                 .arg(QStringLiteral("role"), -10)
                 .arg(QStringLiteral("A"), -8)
                 .arg(QStringLiteral("B"), -8)
                 .arg(QStringLiteral("bytes A"), 12)
                 .arg(QStringLiteral("bytes B"), 12);
        for (const TensorDifference &t : d.changed)
            s += QStringLiteral("  %1 %2 %3 %4 %5 %6%7\n")
                     .arg(escapeControlCharacters(QString::fromUtf8(t.name)), -40)
                     .arg(tensorRoleName(t.role), -10)
                     .arg(typeText(t.typeA), -8)
                     .arg(typeText(t.typeB), -8)
                     .arg(t.bytesA, 12)
                     .arg(t.bytesB, 12)
                     .arg(t.shapeDiffers ? QStringLiteral("  (shape differs)") : QString());
    }
    s += QStringLiteral("\ntotals per role:\n  %1 %2 %3 %4 %5\n")
             .arg(QStringLiteral("role"), -10)
             .arg(QStringLiteral("tensors"), 9)
             .arg(QStringLiteral("A"), 12)
             .arg(QStringLiteral("B"), 12)
             .arg(QStringLiteral("B - A"), 12);
    for (const RoleTotals &r : d.roles)
        s += QStringLiteral("  %1 %2 %3 %4 %5\n")
                 .arg(tensorRoleName(r.role), -10)
                 .arg(QStringLiteral("%1/%2").arg(r.nTensorsA).arg(r.nTensorsB), 9)
                 .arg(formatBytes(r.bytesA), 12)
                 .arg(formatBytes(r.bytesB), 12)
                 .arg(signedBytes(r.bytesA, r.bytesB), 12);
    s += QStringLiteral("  %1 %2 %3 %4 %5\n")
             .arg(QStringLiteral("all"), -10)
             .arg(QStringLiteral("%1/%2").arg(a.tensors().size()).arg(b.tensors().size()), 9)
             .arg(formatBytes(d.bytesA), 12)
             .arg(formatBytes(d.bytesB), 12)
             .arg(signedBytes(d.bytesA, d.bytesB), 12);
    out(s);
    return 0;
}

const CommandRegistration reg(QStringLiteral("diff"),
                              QStringLiteral("Compare the tensor types and sizes of two models"),
                              runDiff);

} // namespace

} // namespace QuantFit::Cli
