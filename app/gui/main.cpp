#include "mainwindow/mainwindow.h"
#include "mainwindow/screenshot.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>

#include <cstdio>
#include <cstring>

int main(int argc, char *argv[])
{
    // A screenshot renders offscreen whatever display there is; the platform must be chosen
    // before QApplication exists.
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--screenshot") == 0)
            qputenv("QT_QPA_PLATFORM", "offscreen");
    }
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("QuantFit"));
    QApplication::setApplicationName(QStringLiteral("quantfit"));
    QApplication::setApplicationDisplayName(QStringLiteral("QuantFit"));
    QApplication::setApplicationVersion(QStringLiteral(QUANTFIT_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("io.github.quantfit.QuantFit"));
    QApplication::setWindowIcon(QIcon(QStringLiteral(":/icons/quantfit.svg")));

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Which GGUF quant fits your RAM; convert and measure it."));
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption shot(QStringLiteral("screenshot"), QStringLiteral("Render a page offscreen to a PNG file and exit."), QStringLiteral("FILE"));
    const QCommandLineOption page(QStringLiteral("page"), QStringLiteral("Page for --screenshot: advise, convert, measure or charts."), QStringLiteral("PAGE"), QStringLiteral("advise"));
    const QCommandLineOption ram(QStringLiteral("ram"), QStringLiteral("RAM in GB to advise for."), QStringLiteral("N"));
    const QCommandLineOption model(QStringLiteral("model"), QStringLiteral("Catalog model id (e.g. llama-3.1-70b) or a .gguf file."), QStringLiteral("ID"));
    const QCommandLineOption size(QStringLiteral("size"), QStringLiteral("Window size for --screenshot, WxH (default 1280x800)."), QStringLiteral("WxH"));
    const QCommandLineOption machine(QStringLiteral("machine"), QStringLiteral("Advise page: a machine preset id (or detect) for the placement tab, with --screenshot."), QStringLiteral("ID"));
    parser.addOptions({shot, page, ram, model, size, machine});
    parser.addPositionalArgument(QStringLiteral("model.gguf"), QStringLiteral("A GGUF file to open."), QStringLiteral("[model.gguf]"));
    parser.process(app);

    std::optional<double> ramGb;
    if (parser.isSet(ram)) {
        bool ok = false;
        ramGb = parser.value(ram).toDouble(&ok);
        if (!ok || *ramGb <= 0) {
            std::fprintf(stderr, "error: --ram expects a positive number of GB, got '%s'\n",
                         qPrintable(parser.value(ram)));
            return 1;
        }
    }

    if (parser.isSet(shot)) {
        ScreenshotRequest request;
        request.file = parser.value(shot);
        request.page = parser.value(page);
        request.ramGb = ramGb;
        request.model = parser.value(model);
        request.machine = parser.value(machine);
        if (parser.isSet(size)) {
            const QStringList wh = parser.value(size).split(u'x');
            if (wh.size() == 2 && wh[0].toInt() >= 320 && wh[1].toInt() >= 240)
                request.size = QSize(wh[0].toInt(), wh[1].toInt());
        }
        const QString error = renderScreenshot(request);
        if (!error.isEmpty()) {
            std::fprintf(stderr, "error: %s\n", qPrintable(error));
            return 1;
        }
        return 0;
    }

    MainWindow window;
    window.show();
    const QString adviseError = window.adviseFor(ramGb, parser.value(model));
    if (!adviseError.isEmpty())
        std::fprintf(stderr, "warning: %s\n", qPrintable(adviseError));
    if (!parser.positionalArguments().isEmpty())
        window.openModel(parser.positionalArguments().first());
    return app.exec();
}
