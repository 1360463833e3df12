#include "testsupport.h"

#include <QFile>

#include <QDir>
#include <QFileInfo>
#include <QProcess>
#include <QProcessEnvironment>

namespace QuantFit::Test {

QString sharedTestData()
{
    QString dir = qEnvironmentVariable("QUANTFIT_TESTDATA");
    if (dir.isEmpty())
        dir = QStringLiteral(QUANTFIT_TESTDATA_DIR);
    return QFileInfo(dir).isDir() ? QFileInfo(dir).canonicalFilePath() : QString();
}

std::map<QString, double> archReference(const QString &file)
{
    std::map<QString, double> row;
    const QString data = sharedTestData();
    if (data.isEmpty())
        return row;
    QFile f(QDir(data).filePath(QStringLiteral("arch/reference.csv")));
    if (!f.open(QIODevice::ReadOnly))
        return row;
    const QList<QByteArray> header = f.readLine().trimmed().split(',');
    while (!f.atEnd()) {
        const QList<QByteArray> cols = f.readLine().trimmed().split(',');
        if (cols.isEmpty() || QString::fromLatin1(cols[0]) != file)
            continue;
        for (qsizetype i = 0; i < cols.size() && i < header.size(); ++i) {
            bool ok = false;
            const double v = cols[i].toDouble(&ok);
            if (ok)
                row[QString::fromLatin1(header[i])] = v;
        }
    }
    return row;
}

QString cliPath()
{
    return QStringLiteral(QUANTFIT_CLI_PATH);
}

CliResult runCli(const QStringList &args, int timeoutMs, const QByteArray &stdinData)
{
    QProcess p;
    p.start(cliPath(), args);
    CliResult r;
    if (!p.waitForStarted(10000))
        return r;
    if (!stdinData.isEmpty())
        p.write(stdinData);
    p.closeWriteChannel();
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished();
        r.crashed = true;
    }
    r.out = p.readAllStandardOutput();
    r.err = p.readAllStandardError();
    r.crashed = r.crashed || p.exitStatus() != QProcess::NormalExit;
    r.exitCode = p.exitCode();
    return r;
}

QStringList filesIn(const QString &dir)
{
    return QDir(dir).entryList(QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot, QDir::Name);
}

QByteArray fileContent(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

} // namespace QuantFit::Test
