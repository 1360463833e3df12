// The app's fitted mixes and recipes: Convert's "Fit to a budget" (preview, then convert through
// the job runner) and the Recipe view with "Compare with…". Sizes are checked against the budget
// given, recipe lines against the types of the written file.

#include "testsupport.h"
#include "uitestsupport.h"

#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "jobs/jobrunner.h"
#include "model/syntheticmodel.h"
#include "pages/advisepage.h"
#include "pages/convertpage.h"
#include "pages/fitpanel.h"
#include "pages/recipeview.h"
#include "quant/quantplan.h"
#include "quant/recipe.h"
#include "tasks/conversiontask.h"

#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>

using namespace QuantFit;

class TestUiFitRecipe : public QObject
{
    Q_OBJECT

    QTemporaryDir m_dir;
    QString m_model;
    std::uint64_t m_q3 = 0;
    std::uint64_t m_q4 = 0;

private slots:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        isolateAppFolders(m_dir);
        m_model = m_dir.filePath(QStringLiteral("tiny-F32.gguf"));
        SyntheticModelOptions o;
        o.nLayers = 4;
        o.nEmbd = 256;
        o.nFf = 512;
        o.nHeads = 4;
        o.nHeadsKv = 2;
        o.nVocab = 512;
        NullJobContext ctx;
        writeSyntheticModel(m_model, o, ctx);
        for (FileType t : {FileType::Q3_K_M, FileType::Q4_K_M}) {
            ConversionRequest r;
            r.sourcePath = m_model;
            r.fileTypes = {t};
            r.outputFile = m_dir.filePath(fileTypeName(t) + QStringLiteral(".gguf"));
            (t == FileType::Q3_K_M ? m_q3 : m_q4) = runConversion(r, ctx).outputs.front().actualBytes;
        }
    }

    void fitPreviewThenConvert()
    {
        JobRunner runner;
        ConvertPage page(&runner);
        page.show();
        QSignalSpy ready(&page, &ConvertPage::sourceReady);
        page.setSource(m_model);
        QVERIFY(ready.wait(60000));
        const QString outDir = m_dir.filePath(QStringLiteral("out"));
        page.setOutputDir(outDir);
        const std::uint64_t budget = (m_q3 + m_q4) / 2;
        page.fitPanel()->setFileSize(budget);
        auto *convert = page.findChild<QPushButton *>(QStringLiteral("convert"));
        QTRY_VERIFY(convert->isEnabled());

        page.previewFit();
        QTRY_VERIFY_WITH_TIMEOUT(page.fitPanel()->recipeTree()->isVisible(), 60000);
        QVERIFY(page.fitPanel()->recipeTree()->topLevelItemCount() > 0);
        QTRY_VERIFY(convert->isEnabled());

        QSignalSpy finished(&page, &ConvertPage::conversionFinished);
        QTest::mouseClick(convert, Qt::LeftButton);
        QVERIFY(finished.wait(120000));
        QCOMPARE(finished.at(0).at(0).toBool(), true);
        const QString out = finished.at(0).at(1).toStringList().value(0);
        QVERIFY2(out.contains(QLatin1String("-fit-")), qPrintable(out));
        QCOMPARE(QFileInfo(out).absolutePath(), QFileInfo(outDir).absoluteFilePath());
        QVERIFY(std::uint64_t(QFileInfo(out).size()) <= budget);
        const GgufFile file = GgufFile::open(out, GgufFile::Mode::MetadataOnly);
        QVERIFY(file.metadata().contains("quantize.recipe"));

        // The recipe view of the written file lists every candidate once, with the file's types.
        page.showRecipe(out);
        auto *view = page.findChild<RecipeView *>(QStringLiteral("recipeView"));
        QVERIFY(view);
        const auto items = parseTensorTypeItems(view->recipeText(), QStringLiteral("view"));
        QCOMPARE(int(items.size()), view->recipeTree()->topLevelItemCount());
        QuantOptions o;
        o.tensorTypes = items;
        const GgufFile source = GgufFile::open(m_model, GgufFile::Mode::MetadataOnly);
        const QuantPlan replayed = makeQuantPlan(source.metadata(), source.tensors(), FileType::Q2_K, o);
        for (std::size_t i = 0; i < replayed.tensors.size(); ++i)
            QCOMPARE(replayed.tensors[i].targetType, file.tensors()[i].type);
    }

    // Advise's "Fit exactly" row: 70B on 64 GB at a 32k context lies between two standard
    // levels, and the button hands RAM, context and KV type to Convert.
    void adviseOffersFitExactly()
    {
        AdvisePage page;
        QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));
        page.setRamGb(64);
        page.setContextTokens(32768);
        auto *label = page.findChild<QLabel *>(QStringLiteral("fitExactly"));
        auto *button = page.findChild<QPushButton *>(QStringLiteral("fitExactlyButton"));
        QVERIFY(label && button);
        QTRY_VERIFY(label->text().contains(QLatin1String("between")));
        QVERIFY(button->isEnabled());
        QSignalSpy fit(&page, &AdvisePage::fitRequested);
        page.show();
        QTest::mouseClick(button, Qt::LeftButton);
        QCOMPARE(fit.size(), 1);
        QCOMPARE(fit.at(0).at(0).value<std::uint64_t>(), std::uint64_t(64'000'000'000));
        QCOMPARE(fit.at(0).at(1).value<std::uint32_t>(), std::uint32_t(32768));

        // Convert takes them over as its "This machine" target.
        JobRunner runner;
        ConvertPage convert(&runner);
        convert.fitToMachine(64'000'000'000, 32768, KvCacheType::Q8_0);
        const auto target = convert.fitPanel()->target();
        QVERIFY(target);
        QCOMPARE(int(target->kind), int(FitTarget::Kind::Machine));
        QCOMPARE(target->ramBytes, std::uint64_t(64'000'000'000));
        QCOMPARE(target->contextTokens, std::uint32_t(32768));
        QCOMPARE(int(target->kvType), int(KvCacheType::Q8_0));
    }

    void recipeViewComparesTwoFiles()
    {
        RecipeView view;
        view.setFile(m_dir.filePath(QStringLiteral("Q3_K_M.gguf")));
        QVERIFY(view.recipeTree()->topLevelItemCount() > 0);
        view.compareWith(m_dir.filePath(QStringLiteral("Q4_K_M.gguf")));
        const GgufFile a = GgufFile::open(m_dir.filePath(QStringLiteral("Q3_K_M.gguf")),
                                          GgufFile::Mode::MetadataOnly);
        const GgufFile b = GgufFile::open(m_dir.filePath(QStringLiteral("Q4_K_M.gguf")),
                                          GgufFile::Mode::MetadataOnly);
        int differing = 0;
        for (std::size_t i = 0; i < a.tensors().size(); ++i)
            differing += a.tensors()[i].type != b.tensors()[i].type;
        QVERIFY(differing > 0);
        QCOMPARE(view.differenceTree()->topLevelItemCount(), differing);
        // One row per role present, plus "all".
        QVERIFY(view.roleTree()->topLevelItemCount() >= 4);
        QCOMPARE(view.roleTree()->topLevelItem(view.roleTree()->topLevelItemCount() - 1)->text(0),
                 QStringLiteral("all"));
    }
};

QTEST_MAIN(TestUiFitRecipe)
#include "testfitrecipe.moc"
