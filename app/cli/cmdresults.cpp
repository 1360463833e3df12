// quantfit-cli results [--json] [--dir DIR] [--add FILE...] [--remove ID...]
// The saved measurement records: what the app's Measure page and `perplexity --save` wrote.

#include "cliargs.h"
#include "command.h"

#include "eval/resultsstore.h"
#include "util/error.h"
#include "util/units.h"

#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>

namespace QuantFit::Cli {

namespace {

QString kldText(const MeasurementRecord &r)
{
    return r.kld ? QStringLiteral("%1").arg(r.kld->kldMean, 0, 'f', 5) : QStringLiteral("-");
}

int runResults(const QStringList &args)
{
    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral(
        "Lists the saved measurement records (newest first): the app's Measure page saves every "
        "run there, and `quantfit-cli perplexity --save` does too. --add copies record files "
        "(e.g. `perplexity --json` output) into the folder."));
    parser.addOption({QStringLiteral("json"), QStringLiteral("Print the records as a JSON array.")});
    parser.addOption({QStringLiteral("dir"), QStringLiteral("Results folder (default: the app's)."),
                      QStringLiteral("DIR")});
    parser.addOption({QStringLiteral("add"), QStringLiteral("Import a record file (repeatable)."),
                      QStringLiteral("FILE")});
    parser.addOption({QStringLiteral("remove"), QStringLiteral("Delete the record with this id "
                                                               "(repeatable)."),
                      QStringLiteral("ID")});
    if (!parseArgs(parser, QStringLiteral("results"), args, 0, 0))
        return 0;

    const ResultsStore store(parser.value(QStringLiteral("dir")));
    for (const QString &file : parser.values(QStringLiteral("add")))
        err(QStringLiteral("added %1\n").arg(store.import(file)));
    for (const QString &id : parser.values(QStringLiteral("remove"))) {
        store.remove(id);
        err(QStringLiteral("removed %1\n").arg(id));
    }

    QStringList problems;
    const std::vector<MeasurementRecord> records = store.list(&problems);
    for (const QString &p : problems)
        err(QStringLiteral("warning: skipped %1\n").arg(p));
    if (parser.isSet(QStringLiteral("json"))) {
        QJsonArray all;
        for (const MeasurementRecord &r : records) {
            QJsonObject o = measurementRecordToJson(r);
            o.insert(QStringLiteral("id"), r.id);
            all.append(o);
        }
        out(QString::fromUtf8(QJsonDocument(all).toJson(QJsonDocument::Indented)));
        return 0;
    }
    out(QStringLiteral("results in %1: %2\n").arg(QDir::toNativeSeparators(store.folder())).arg(records.size()));
    if (records.empty())
        return 0;
    out(QStringLiteral("%1 %2 %3 %4 %5 %6 %7  %8\n")
            .arg(QStringLiteral("id"), -44)
            .arg(QStringLiteral("type"), -8)
            .arg(QStringLiteral("bpw"), 6)
            .arg(QStringLiteral("size"), 10)
            .arg(QStringLiteral("PPL"), 22)
            .arg(QStringLiteral("KLD"), 9)
            .arg(QStringLiteral("tok/s"), 8)
            .arg(QStringLiteral("text")));
    for (const MeasurementRecord &r : records) {
        out(QStringLiteral("%1 %2 %3 %4 %5 %6 %7  %8, ctx %9\n")
                .arg(r.id, -44)
                .arg(r.fileType + (r.isBase ? QStringLiteral("*") : QString()), -8)
                .arg(r.bitsPerWeight, 6, 'f', 2)
                .arg(formatBytes(r.fileBytes), 10)
                .arg(QStringLiteral("%1 ± %2").arg(r.ppl, 0, 'f', 4).arg(r.pplError, 0, 'f', 4), 22)
                .arg(kldText(r), 9)
                .arg(r.tokensPerSecond, 8, 'f', 1)
                .arg(r.textSource)
                .arg(r.nCtx));
    }
    return 0;
}

const CommandRegistration reg(QStringLiteral("results"),
                              QStringLiteral("List saved measurement results (the app's and the "
                                             "CLI's)"),
                              runResults);

} // namespace

} // namespace QuantFit::Cli
