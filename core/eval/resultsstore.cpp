#include "resultsstore.h"

#include "io/atomicoutput.h"
#include "util/error.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QStandardPaths>

#include <algorithm>

namespace QuantFit {

namespace {

// A file name from a model name: letters, digits, '.', '-' and '_' kept, the rest '_'.
QString safeStem(const QString &text)
{
    QString s;
    for (const QChar c : text) {
        const bool keep = c.isLetterOrNumber() || c == u'.' || c == u'-' || c == u'_';
        s += keep ? c : QChar(u'_');
    }
    s = s.left(80);
    return s.isEmpty() ? QStringLiteral("model") : s;
}

} // namespace

ResultsStore::ResultsStore(QString folder)
    : m_folder(folder.isEmpty() ? defaultFolder() : std::move(folder))
{
}

QString ResultsStore::defaultFolder()
{
    const QString env = qEnvironmentVariable("QUANTFIT_RESULTS_DIR");
    if (!env.isEmpty())
        return env;
    // The app's QStandardPaths::AppDataLocation (organisation "QuantFit", application
    // "quantfit"), spelled out so that the CLI, whose application name differs, finds it too.
    return QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation)
           + QStringLiteral("/QuantFit/quantfit/results");
}

std::vector<MeasurementRecord> ResultsStore::list(QStringList *problems) const
{
    std::vector<MeasurementRecord> records;
    const QDir dir(m_folder);
    for (const QFileInfo &fi : dir.entryInfoList({QStringLiteral("*.json")}, QDir::Files, QDir::Name)) {
        try {
            MeasurementRecord r = readMeasurementRecord(fi.absoluteFilePath());
            r.id = fi.completeBaseName();
            records.push_back(std::move(r));
        } catch (const Error &e) {
            if (problems)
                problems->append(e.message());
        }
    }
    std::stable_sort(records.begin(), records.end(),
                     [](const MeasurementRecord &a, const MeasurementRecord &b) { return a.date > b.date; });
    return records;
}

QString ResultsStore::save(const MeasurementRecord &input) const
{
    MeasurementRecord record = input;
    if (!record.date.isValid())
        record.date = QDateTime::currentDateTimeUtc();
    if (!QDir().mkpath(m_folder))
        throw IoError(m_folder, QStringLiteral("create folder"), QStringLiteral("cannot create the results folder"));
    const QString base = QFileInfo(record.modelPath).completeBaseName();
    const QString stem = safeStem(base.isEmpty() ? record.modelName : base) + u'-'
                         + record.date.toUTC().toString(QStringLiteral("yyyyMMdd-HHmmsszzz"))
                         + (record.isBase ? QStringLiteral("-base") : QString());
    // Two records of one model in the same millisecond (a base and its KLD run) get a suffix.
    QString path = QDir(m_folder).filePath(stem + QStringLiteral(".json"));
    for (int n = 2; QFileInfo::exists(path); ++n)
        path = QDir(m_folder).filePath(QStringLiteral("%1-%2.json").arg(stem).arg(n));
    AtomicOutput out(path);
    out.write(measurementRecordJsonText(record));
    out.commit();
    return path;
}

QString ResultsStore::import(const QString &path) const
{
    return save(readMeasurementRecord(path));
}

void ResultsStore::remove(const QString &id) const
{
    const QString path = pathOf(id);
    QFile f(path);
    if (!f.remove())
        throw IoError(path, QStringLiteral("remove"), f.errorString());
}

QString ResultsStore::pathOf(const QString &id) const
{
    return QDir(m_folder).filePath(id + QStringLiteral(".json"));
}

} // namespace QuantFit
