// quantfit-bench models [--count N] [--file GGUF] [--threads N] [--runs N]: time of a models scan
// (core/discovery) over N models in an LM Studio-style tree (publisher/repository/file.gguf)
// made in a temporary folder. By default the models are small synthetic ones; with --file every
// entry is a hard link to (or a copy of) that file, e.g. a vocabulary file of
// ../shared/testdata/vocab, whose tokenizer arrays are what reading a real model's headers costs.
// The first scan reads the files from the page cache as written (warm); the target is 100
// models in under a second.

#include "bench.h"

#include "discovery/modeldiscovery.h"
#include "jobs/jobcontext.h"
#include "model/syntheticmodel.h"
#include "util/error.h"
#include "util/units.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>

#include <algorithm>
#include <unistd.h>
#include <vector>

namespace QuantFit::Bench {

namespace {

QString option(const QStringList &args, const QString &name, const QString &fallback)
{
    const qsizetype i = args.indexOf(name);
    return i >= 0 && i + 1 < args.size() ? args.at(i + 1) : fallback;
}

int runModelsBench(const QStringList &args)
{
    const int count =
        std::max(1, option(args, QStringLiteral("--count"), QStringLiteral("100")).toInt());
    const int runs = std::max(1, option(args, QStringLiteral("--runs"), QStringLiteral("5")).toInt());
    const int threads = option(args, QStringLiteral("--threads"), QStringLiteral("0")).toInt();
    const QString file = option(args, QStringLiteral("--file"), QString());

    QTemporaryDir dir;
    if (!dir.isValid())
        throw Error(QStringLiteral("cannot make a temporary folder"));
    QString source = file;
    if (source.isEmpty()) {
        SyntheticModelOptions o;
        o.nLayers = 2;
        o.nEmbd = 64;
        o.nFf = 128;
        o.nHeads = 2;
        o.nHeadsKv = 1;
        o.nVocab = 512;
        o.nCtx = 4096;
        o.type = GgmlType::F16;
        source = dir.filePath(QStringLiteral("source.gguf"));
        NullJobContext ctx;
        writeSyntheticModel(source, o, ctx);
    }
    const QString models = dir.filePath(QStringLiteral("models"));
    int linked = 0;
    for (int i = 0; i < count; ++i) {
        const QString target = QStringLiteral("%1/publisher%2/Model-%3-GGUF/model-%3-F16.gguf")
                                   .arg(models).arg(i % 10).arg(i);
        QDir().mkpath(QFileInfo(target).absolutePath());
        if (::link(QFile::encodeName(source).constData(), QFile::encodeName(target).constData()) == 0)
            ++linked;
        else if (!QFile::copy(source, target))
            throw Error(QStringLiteral("cannot place %1").arg(target));
    }
    print(QStringLiteral("%1 models of %2 (%3 hard links) in %4")
              .arg(count)
              .arg(formatBytes(std::uint64_t(QFileInfo(source).size())))
              .arg(linked)
              .arg(models));

    DiscoveryOptions options;
    options.stores = {{ModelSource::LmStudio, models, QStringLiteral("bench")}};
    options.nThreads = threads;
    std::vector<double> ms;
    std::size_t found = 0;
    std::size_t failed = 0;
    for (int r = 0; r < runs; ++r) {
        NullJobContext ctx;
        QElapsedTimer t;
        t.start();
        const DiscoveryResult result = discoverModels(options, ctx);
        ms.push_back(double(t.nsecsElapsed()) / 1e6);
        found = result.models.size();
        failed = std::size_t(std::count_if(result.models.begin(), result.models.end(),
                                           [](const DiscoveredModel &m) { return !m.isReadable(); }));
    }
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    QStringList each;
    for (double m : ms)
        each << QString::number(m, 'f', 1);
    print(QStringLiteral(
              "scan: %1 models (%2 unreadable); %3 ms (median of %4 runs: %5), %6 ms per model")
              .arg(found)
              .arg(failed)
              .arg(sorted[sorted.size() / 2], 0, 'f', 1)
              .arg(runs)
              .arg(each.join(QStringLiteral(", ")))
              .arg(sorted[sorted.size() / 2] / double(std::max<std::size_t>(1, found)), 0, 'f', 3));
    return 0;
}

const BenchRegistration reg(QStringLiteral("models"),
                            QStringLiteral("models scan time over N fake models (target: 100 in 1 s)"),
                            runModelsBench);

} // namespace

} // namespace QuantFit::Bench
