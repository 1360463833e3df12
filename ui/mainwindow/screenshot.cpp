#include "screenshot.h"

#include "mainwindow.h"

#include "pages/advisepage.h"

#include <QEventLoop>
#include <QPixmap>
#include <QTimer>

namespace {

// Longest wait for background work (reading a file, sizing the catalog for the priority rows).
constexpr int kIdleTimeoutMs = 30000;
// Time for posted layout requests and queued chart replots after the work is done.
constexpr int kSettleMs = 100;

// Runs an event loop until `window` says it is idle, or the timeout passed; true when idle.
bool waitForIdle(MainWindow &window)
{
    if (!window.isBusy())
        return true;
    QEventLoop loop;
    QTimer timeout;
    timeout.setSingleShot(true);
    QObject::connect(&timeout, &QTimer::timeout, &loop, &QEventLoop::quit);
    QObject::connect(&window, &MainWindow::idle, &loop, &QEventLoop::quit);
    timeout.start(kIdleTimeoutMs);
    loop.exec();
    return !window.isBusy();
}

void settle()
{
    QEventLoop loop;
    QTimer::singleShot(kSettleMs, &loop, &QEventLoop::quit);
    loop.exec();
}

} // namespace

QString renderScreenshot(const ScreenshotRequest &request)
{
    const auto page = MainWindow::pageFromName(request.page);
    if (!page)
        return QObject::tr("unknown page '%1': use advise, convert, measure, charts or models").arg(request.page);
    MainWindow window;
    window.resize(request.size);
    window.showPage(*page);
    const QString error = window.adviseFor(request.ramGb, request.model);
    if (!error.isEmpty())
        return error;
    window.showPage(*page); // opening a .gguf may have switched to the Advise page
    if (!request.machine.isEmpty()) {
        auto *advise = window.findChild<AdvisePage *>();
        if (!advise || !advise->selectMachine(request.machine))
            return QObject::tr("unknown machine '%1': use a preset id (`quantfit-cli advise "
                               "--machine list`) or detect")
                .arg(request.machine);
    }
    window.show();
    if (!waitForIdle(window))
        qWarning("screenshot: still busy after %d s; saving what the window shows", kIdleTimeoutMs / 1000);
    settle();
    const QPixmap pixmap = window.grab();
    if (pixmap.isNull() || !pixmap.save(request.file, "PNG"))
        return QObject::tr("cannot write '%1'").arg(request.file);
    window.close();
    return {};
}
