#include "screenshot.h"

#include "mainwindow.h"
#include "pages/advisepage.h"

#include <QApplication>
#include <QFileInfo>

QString renderScreenshot(const ScreenshotRequest &request)
{
    const auto page = MainWindow::pageFromName(request.page);
    if (!page)
        return QObject::tr("unknown page '%1': use advise, convert, measure or charts").arg(request.page);
    MainWindow window;
    window.resize(request.size);
    window.showPage(*page);
    if (request.ramGb)
        window.advisePage()->setRamGb(*request.ramGb);
    if (!request.model.isEmpty()) {
        if (request.model.endsWith(QStringLiteral(".gguf"), Qt::CaseInsensitive))
            window.openModel(request.model);
        else if (!window.advisePage()->selectCatalogModel(request.model))
            return QObject::tr("unknown model id '%1'").arg(request.model);
        window.showPage(*page);
    }
    window.show();
    window.waitUntilIdle();
    if (!window.saveScreenshot(request.file))
        return QObject::tr("cannot write '%1'").arg(request.file);
    window.close();
    return {};
}
