// The Advise page's placement and speed panel, found by object name: choosing a machine shows
// placement, memory per device, longest context, tokens/s and the llama.cpp command line, the
// same facts `quantfit-cli advise --machine` prints (tests/cli/testcliadvisemachine.cpp).

#include "uitestsupport.h"

#include "jobs/jobcontext.h"
#include "model/syntheticmodel.h"
#include "pages/advisepage.h"
#include "system/measuredspeed.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTest>

namespace {

QComboBox *machineCombo(const AdvisePage &page)
{
    return page.findChild<QComboBox *>(QStringLiteral("machine"));
}

QString text(const AdvisePage &page, const char *name)
{
    if (const auto *label = page.findChild<QLabel *>(QLatin1String(name)))
        return label->text();
    if (const auto *edit = page.findChild<QLineEdit *>(QLatin1String(name)))
        return edit->text();
    return {};
}

void choose(const AdvisePage &page, const QString &id)
{
    QComboBox *combo = machineCombo(page);
    const int i = combo->findData(id);
    QVERIFY2(i >= 0, qPrintable(id));
    combo->setCurrentIndex(i);
}

} // namespace

class TestUiMachinePanel : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        isolateAppFolders(m_dir);
        qputenv("QUANTFIT_MACHINE_SPEED_FILE",
                QDir(m_dir.path()).filePath(QStringLiteral("speed.json")).toUtf8());
    }

    void strixHaloRunsGptOssOnTheGpu()
    {
        AdvisePage page;
        page.show();
        QVERIFY(page.selectCatalogModel(QStringLiteral("gpt-oss-120b")));
        page.setContextTokens(8192);
        QVERIFY(machineCombo(page));
        choose(page, QStringLiteral("strix-halo-128"));

        const QString facts = text(page, "machineFacts");
        QVERIFY2(facts.contains(QStringLiteral("GTT"))
                     && facts.contains(QStringLiteral("256 GB/s")),
                 qPrintable(facts));
        const QString summary = text(page, "placementSummary");
        QVERIFY2(summary.contains(QStringLiteral("MXFP4_MOE: all on the GPU")),
                 qPrintable(summary));
        QVERIFY(summary.contains(QStringLiteral("Longest context with this placement")));
        QVERIFY(summary.contains(QStringLiteral("GPU: ")));
        QVERIFY(text(page, "speed").contains(QStringLiteral("tokens/s")));
        QVERIFY(text(page, "llamaCommand").startsWith(
            QStringLiteral("llama-server -m gpt-oss-120b-MXFP4_MOE.gguf -ngl 37 -c 8192")));
        const auto *levels = page.findChild<QTableWidget *>(QStringLiteral("machineLevels"));
        QVERIFY(levels && levels->rowCount() >= 10);
    }

    void twentyFourGigabyteGpu()
    {
        AdvisePage page;
        page.show();
        page.setContextTokens(8192);
        choose(page, QStringLiteral("pc-64gb-gpu24"));

        // A 70B dense model: whole layers move to the CPU.
        QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));
        QVERIFY2(text(page, "placementSummary").contains(QStringLiteral("layer offload")),
                 qPrintable(text(page, "placementSummary")));
        QVERIFY(!text(page, "llamaCommand").contains(QStringLiteral("--n-cpu-moe")));

        // GLM-4.5-Air: every layer on the GPU, the experts of the first layers in RAM.
        QVERIFY(page.selectCatalogModel(QStringLiteral("glm-4.5-air")));
        QVERIFY2(text(page, "placementSummary").contains(QStringLiteral("expert offload")),
                 qPrintable(text(page, "placementSummary")));
        QVERIFY(text(page, "llamaCommand").contains(QStringLiteral("--n-cpu-moe")));
        QVERIFY(text(page, "runnerSettings").contains(QStringLiteral("LM Studio")));
    }

    void customGpuAndRamOnly()
    {
        AdvisePage page;
        page.show();
        page.setRamGb(32);
        QVERIFY(page.selectCatalogModel(QStringLiteral("qwen3-8b")));
        choose(page, QStringLiteral("custom"));
        auto *vram = page.findChild<QDoubleSpinBox *>(QStringLiteral("customVram"));
        QVERIFY(vram && vram->isEnabled());
        vram->setValue(4);
        QVERIFY2(text(page, "machineFacts").contains(QStringLiteral("given: 4.0 GB VRAM")),
                 qPrintable(text(page, "machineFacts")));
        QVERIFY(text(page, "placementSummary").contains(QStringLiteral("layer offload")));

        choose(page, QString()); // RAM only
        QVERIFY(!vram->isEnabled());
        QVERIFY(text(page, "placementSummary").contains(QStringLiteral("CPU only")));
        QVERIFY(text(page, "llamaCommand").contains(QStringLiteral("-ngl 0")));
    }

    // QuantFit's own generation measured on an opened file replaces the estimate on the
    // detected machine, and the speed line says which figure is measured; another file keeps
    // the estimate.
    void measuredGenerationOfTheOpenedFile()
    {
        using namespace QuantFit;
        const QString model = QDir(m_dir.path()).filePath(QStringLiteral("tiny-measured.gguf"));
        SyntheticModelOptions o;
        o.nLayers = 2;
        o.nEmbd = 128;
        o.nFf = 256;
        o.nHeads = 4;
        o.nHeadsKv = 2;
        o.nVocab = 512;
        NullJobContext ctx;
        writeSyntheticModel(model, o, ctx);
        MeasuredSpeed speed;
        speed.readBytesPerSecond = 20e9;
        speed.readThreads = 2;
        speed.readDate = QDateTime::currentDateTimeUtc();
        speed.generatedTokensPerSecond = 4321.0; // not a figure any estimate would give
        speed.bytesPerToken = 1000000;
        speed.generationModel = QStringLiteral("tiny-measured.gguf");
        speed.generationThreads = 2;
        speed.generationDate = speed.readDate;
        saveMeasuredSpeed(speed, QDir(m_dir.path()).filePath(QStringLiteral("speed.json")));

        AdvisePage page;
        page.show();
        choose(page, QStringLiteral("detect"));
        QSignalSpy idle(&page, &AdvisePage::idle);
        page.openGguf(model);
        QVERIFY(idle.wait(20000));
        QTRY_VERIFY_WITH_TIMEOUT(text(page, "speed").contains(QStringLiteral("tokens/s")), 10000);
        const QString measured = text(page, "speed");
        QVERIFY2(measured.contains(QStringLiteral("generation measured"))
                     && measured.contains(QStringLiteral("Generation 4321")),
                 qPrintable(measured));

        // The same measurement names another file: the estimate stays, labelled so.
        speed.generationModel = QStringLiteral("another.gguf");
        saveMeasuredSpeed(speed, QDir(m_dir.path()).filePath(QStringLiteral("speed.json")));
        AdvisePage other;
        other.show();
        choose(other, QStringLiteral("detect"));
        QSignalSpy otherIdle(&other, &AdvisePage::idle);
        other.openGguf(model);
        QVERIFY(otherIdle.wait(20000));
        QTRY_VERIFY_WITH_TIMEOUT(text(other, "speed").contains(QStringLiteral("tokens/s")), 10000);
        const QString estimated = text(other, "speed");
        // (the basis may still derive the CPU's effective bandwidth from that run)
        QVERIFY2(estimated.contains(QStringLiteral("(estimates)"))
                     && !estimated.contains(QStringLiteral("Generation 4321")),
                 qPrintable(estimated));
    }

private:
    QTemporaryDir m_dir;
};

QTEST_MAIN(TestUiMachinePanel)
#include "testmachinepanel.moc"
