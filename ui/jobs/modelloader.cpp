#include "modelloader.h"

#include "util/error.h"

#include <QFutureWatcher>
#include <QtConcurrent/QtConcurrentRun>

LoadedModel loadModel(const QString &path)
{
    LoadedModel m;
    m.path = path;
    try {
        auto file = std::make_shared<QuantFit::GgufFile>(
            QuantFit::GgufFile::open(path, QuantFit::GgufFile::Mode::MetadataOnly));
        m.info = QuantFit::modelInfoFrom(*file);
        m.file = std::move(file);
    } catch (const QuantFit::Error &e) {
        m.error = e.message();
    } catch (const std::exception &e) {
        m.error = QObject::tr("cannot open '%1': %2").arg(path, QString::fromLocal8Bit(e.what()));
    }
    return m;
}

void loadModelAsync(const QString &path, QObject *context,
                    std::function<void(const LoadedModel &)> done)
{
    auto *watcher = new QFutureWatcher<LoadedModel>(context);
    QObject::connect(watcher, &QFutureWatcher<LoadedModel>::finished, context,
                     [watcher, done = std::move(done)] {
                         done(watcher->result());
                         watcher->deleteLater();
                     });
    watcher->setFuture(QtConcurrent::run([path] { return loadModel(path); }));
}
