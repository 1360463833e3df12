// The app's fitted mixes and recipes: Convert's "Fit to a budget" (preview, then convert through
// the job runner) and the Recipe view with "Compare with…". Sizes are checked against the budget
// given, recipe lines against the types of the written file.

#include "testsupport.h"
#include "uitestsupport.h"

#include "gguf/ggufreader.h"
#include "jobs/jobcontext.h"
#include "jobs/jobrunner.h"
#include "model/syntheticmodel.h"
#include "advisor/memorymodel.h"
#include "mainwindow/mainwindow.h"
#include "models/advicetablemodel.h"
#include "pages/advisepage.h"
#include "pages/convertpage.h"
#include "pages/fitpanel.h"
#include "pages/recipeview.h"
#include "widgets/planpreview.h"
#include "quant/quantplan.h"
#include "quant/recipe.h"
#include "tasks/conversiontask.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QLabel>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>
#include <QVBoxLayout>

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
        // The predicted losses with three significant digits, trailing zeros kept ("vs 4.00";
        // 'g' wrote "vs 4" for 3.996).
        QString summary;
        for (const QLabel *l : page.fitPanel()->findChildren<QLabel *>())
            if (l->text().contains(QLatin1String("Predicted loss")))
                summary = l->text();
        const auto costs = QRegularExpression(QStringLiteral(R"(Predicted loss (\S+) vs (\S+) for)")).match(summary);
        QVERIFY2(costs.hasMatch(), qPrintable(summary));
        for (int i : {1, 2}) {
            QString digits = costs.captured(i);
            digits.remove(u'.');
            while (digits.startsWith(u'0'))
                digits.remove(0, 1);
            QVERIFY2(digits.size() == 3, qPrintable(costs.captured(i)));
        }

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

    // The fit group's sensitivity control: by default measured where quick (this model's
    // estimate is seconds), and the preview says so and unfolds each recipe line to its tensors
    // with the KLD measured for each alone at Q4_K (every row here is a multiple of 256), the
    // figures `quantize --dry-run` prints for the same model; "Fixed factors" fits with the
    // documented factors and shows the plain recipe.
    void sensitivityChoiceAndMeasuredKldPerTensor()
    {
        JobRunner runner;
        ConvertPage page(&runner);
        page.show();
        QSignalSpy ready(&page, &ConvertPage::sourceReady);
        page.setSource(m_model);
        QVERIFY(ready.wait(60000));
        FitPanel *panel = page.fitPanel();
        const std::uint64_t budget = (m_q3 + m_q4) / 2;
        panel->setFileSize(budget);
        QCOMPARE(panel->target()->sensitivity, FitSensitivityMode::Auto);
        auto *sensitivity = panel->findChild<QComboBox *>(QStringLiteral("sensitivity"));
        auto *convert = page.findChild<QPushButton *>(QStringLiteral("convert"));
        QVERIFY(sensitivity && convert);
        QTRY_VERIFY(convert->isEnabled());
        const auto summaryText = [&] {
            for (const QLabel *l : panel->findChildren<QLabel *>())
                if (l->text().contains(QLatin1String("Predicted loss")))
                    return l->text();
            return QString();
        };

        page.previewFit();
        QTreeWidget *tree = panel->recipeTree();
        QTRY_VERIFY_WITH_TIMEOUT(tree->isVisible(), 120000);
        QTRY_VERIFY(convert->isEnabled()); // the job is over
        QVERIFY2(summaryText().contains(QLatin1String("Sensitivity: measured sensitivity (auto: ")),
                 qPrintable(summaryText()));
        QCOMPARE(tree->columnCount(), 5);
        const Test::CliResult cli = Test::runCli(
            {QStringLiteral("quantize"), m_model, QStringLiteral("--target-size"),
             QString::number(budget) + QStringLiteral("B"), QStringLiteral("--dry-run")});
        QVERIFY2(cli.exitCode == 0, cli.err.constData());
        const QString out = QString::fromUtf8(cli.out);
        int children = 0, listed = 0;
        for (int i = 0; i < tree->topLevelItemCount(); ++i) {
            const QTreeWidgetItem *line = tree->topLevelItem(i);
            listed += line->text(2).toInt();
            children += line->childCount();
            for (int c = 0; c < line->childCount(); ++c) {
                const QTreeWidgetItem *t = line->child(c);
                QVERIFY2(QRegularExpression(line->text(0)).match(t->text(0)).hasMatch(),
                         qPrintable(t->text(0)));
                QCOMPARE(t->text(1), line->text(1));
                const auto kld = QRegularExpression(QStringLiteral(R"(^(\S+) at q4_K$)"))
                                     .match(t->text(3));
                QVERIFY2(kld.hasMatch(), qPrintable(t->text(3)));
                // The dry run's line for the tensor: name, probe type, KLD, sensitivity, type.
                const auto row = QRegularExpression(
                                     QStringLiteral(R"(^\s+%1\s+q4_K\s+(\S+)\s+(\S+)\s+(\S+)$)")
                                         .arg(QRegularExpression::escape(t->text(0))),
                                     QRegularExpression::MultilineOption)
                                     .match(out);
                QVERIFY2(row.hasMatch(), qPrintable(t->text(0)));
                QCOMPARE(kld.captured(1).toDouble(), row.captured(1).toDouble());
                QCOMPARE(t->text(4).toDouble(), row.captured(2).toDouble());
            }
        }
        QVERIFY(children > 0);
        QCOMPARE(children, listed); // every fitted tensor under the one line that decides it

        sensitivity->setCurrentIndex(sensitivity->findData(int(FitSensitivityMode::Documented)));
        QCOMPARE(panel->target()->sensitivity, FitSensitivityMode::Documented);
        QVERIFY(!tree->isVisible()); // a changed setting hides the old recipe
        page.previewFit();
        QTRY_VERIFY_WITH_TIMEOUT(tree->isVisible(), 120000);
        QTRY_VERIFY(convert->isEnabled()); // the job is over
        QVERIFY2(summaryText().contains(
                     QLatin1String("Sensitivity: documented sensitivity factors (calibration off)")),
                 qPrintable(summaryText()));
        QCOMPARE(tree->columnCount(), 3);
        for (int i = 0; i < tree->topLevelItemCount(); ++i)
            QCOMPARE(tree->topLevelItem(i)->childCount(), 0);
    }

    // Advise's "Fit exactly" row (issue 13, deliverable 4): 70B on 64 GB at a 32k context with a
    // q8_0 KV cache. Its size is the weights' budget, RAM minus what the memory model needs
    // besides the weights at that context (computed here from the advisor's memory model, not
    // the page), it lies between the standard levels around it, and selecting it leads to
    // Convert's fit group with RAM, context and KV type carried over.
    void adviseOffersFitExactlyRow()
    {
        MainWindow window;
        window.resize(1280, 800);
        auto *advise = window.findChild<AdvisePage *>();
        auto *convert = window.findChild<ConvertPage *>();
        QVERIFY(advise && convert);
        QVERIFY(advise->selectCatalogModel(QStringLiteral("llama-3.1-70b")));
        advise->setRamGb(64);
        advise->setContextTokens(32768);
        advise->findChild<QComboBox *>(QStringLiteral("kvType"))->setCurrentIndex(1); // q8_0
        window.show();

        AdviceOptions o;
        o.ramBytes = 64'000'000'000ull;
        o.contextTokens = 32768;
        o.kvType = KvCacheType::Q8_0;
        const ModelAdvice advice = Advisor().adviseModel(QStringLiteral("llama-3.1-70b"), o);
        const std::uint64_t budget =
            o.ramBytes
            - memoryAt(advice.model, 0, 32768, advice.options, *advice.options.reserveBytes).totalBytes();

        auto *table = advise->findChild<QTableView *>(QStringLiteral("levels"));
        auto *model = qobject_cast<AdviceTableModel *>(table->model());
        QVERIFY(model);
        const int fit = model->fitRow();
        QVERIFY(fit > 0 && fit + 1 < model->rowCount());
        QCOMPARE(model->index(fit, AdviceTableModel::Quant).data().toString(), QStringLiteral("Fit exactly"));
        const ExactFit &f = *model->exactFit();
        QCOMPARE(f.budgetBytes, budget);
        const QuantRow *below = model->levelAt(fit - 1);
        const QuantRow *above = model->levelAt(fit + 1);
        QVERIFY(below && above);
        QVERIFY(below->memory.weightsBytes <= f.budgetBytes);
        QVERIFY(f.budgetBytes < above->memory.weightsBytes);
        // The file: the budget plus the header, between the two standard files.
        QVERIFY(below->fileBytes <= f.fileBytesBound && f.fileBytesBound < above->fileBytes);
        // The context it leaves is the one asked for; its total is the whole RAM, to a byte.
        QCOMPARE(model->index(fit, AdviceTableModel::LongestContext).data().toString(),
                 QLocale().toString(32768));
        QCOMPARE(f.memory.totalBytes(), o.ramBytes);
        // Quality and speed between the neighbours', said to be interpolated.
        QVERIFY(f.pplIncreasePercent <= below->pplIncreasePercent
                && f.pplIncreasePercent >= above->pplIncreasePercent);
        QVERIFY(model->index(fit, AdviceTableModel::Quality).data().toString().contains(
            QStringLiteral("interpolated")));

        // Selecting the row turns Convert into "Fit to this machine"; pressing it opens Convert's
        // fit group with this machine.
        table->selectRow(fit);
        auto *button = advise->findChild<QPushButton *>(QStringLiteral("convert"));
        QVERIFY(button->text().contains(QStringLiteral("this machine")));
        QTest::mouseClick(button, Qt::LeftButton);
        QCOMPARE(window.currentPage(), MainWindow::Page::Convert);
        const auto target = convert->fitPanel()->target();
        QVERIFY(target);
        QCOMPARE(int(target->kind), int(FitTarget::Kind::Machine));
        QCOMPARE(target->ramBytes, std::uint64_t(64'000'000'000));
        QCOMPARE(target->contextTokens, std::uint32_t(32768));
        QCOMPARE(int(target->kvType), int(KvCacheType::Q8_0));
        QVERIFY(!target->reserveBytes); // "auto" on Advise: the default by RAM size here too
        QVERIFY(convert->fitPanel()->findChild<QPushButton *>()->isVisible()); // unfolded

        // "Fit exactly…" does the same whatever row is selected, with a reserve set by hand.
        window.showPage(MainWindow::Page::Advise);
        advise->findChild<QDoubleSpinBox *>(QStringLiteral("reserve"))->setValue(4);
        table->selectRow(0);
        QSignalSpy requested(advise, &AdvisePage::fitRequested);
        QTest::mouseClick(advise->findChild<QPushButton *>(QStringLiteral("fitExactlyButton")),
                          Qt::LeftButton);
        QCOMPARE(requested.size(), 1);
        const auto request = requested.at(0).at(0).value<AdvisePage::FitRequest>();
        QCOMPARE(request.ramBytes, std::uint64_t(64'000'000'000));
        QCOMPARE(request.reserveBytes.value_or(0), std::uint64_t(4'000'000'000));
        QCOMPARE(convert->fitPanel()->target()->reserveBytes.value_or(0), std::uint64_t(4'000'000'000));
        // No wait for the fit row's plan (a 70B tensor list): closing the page cancels it.
    }

    // Selected, the fit row is planned (the fitted mix of the catalog shape, on a pool thread) and
    // its size becomes the plan's: at most the budget and above the standard level below it.
    // Llama 3.1 8B on 12 GB: the budget at 8192 tokens (about 7.6 GB of weights: 12 GB less the
    // 2.5 GB reserve, a 1.07 GB KV cache, compute and runtime) lies between Q6_K (6.6 GB) and
    // Q8_0 (8.5 GB).
    void selectedFitRowIsPlanned()
    {
        AdvisePage page;
        QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-8b")));
        page.setRamGb(12);
        page.setContextTokens(8192);
        page.show();
        auto *table = page.findChild<QTableView *>(QStringLiteral("levels"));
        auto *model = qobject_cast<AdviceTableModel *>(table->model());
        const int fit = model->fitRow();
        QVERIFY(fit > 0);
        QCOMPARE(model->levelAt(fit - 1)->name, QStringLiteral("Q6_K"));
        QCOMPARE(model->levelAt(fit + 1)->name, QStringLiteral("Q8_0"));
        QVERIFY(model->index(fit, AdviceTableModel::Size).data().toString().startsWith(QStringLiteral("≤")));
        table->selectRow(fit);
        QVERIFY(page.isBusy());
        QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 120000);
        const ExactFit &f = *model->exactFit();
        QVERIFY2(f.plannedTensorBytes, qPrintable(f.planError));
        QVERIFY(*f.plannedTensorBytes <= f.budgetBytes);
        QVERIFY(*f.plannedTensorBytes > f.below.memory.weightsBytes);
        QVERIFY(f.fileBytes() <= f.fileBytesBound);
        QVERIFY(!model->index(fit, AdviceTableModel::Size).data().toString().startsWith(QStringLiteral("≤")));
        QVERIFY(model->index(fit, AdviceTableModel::Size).data(Qt::ToolTipRole).toString().contains(
            QLocale().toString(qulonglong(*f.plannedTensorBytes))));
        // A change that leaves the budget alone keeps the plan (nothing to plan again).
        const std::uint64_t planned = *f.plannedTensorBytes;
        page.findChild<QCheckBox *>(QStringLiteral("qualityCritical"))->setChecked(true);
        QVERIFY(!page.isBusy());
        QCOMPARE(model->exactFit()->plannedTensorBytes.value_or(0), planned);
    }

    // An opened GGUF's "Fit exactly" row is planned from the file's own rows. The page holds the
    // file's headers only, so the plan maps it itself (it failed with "opened for metadata only;
    // tensor data of 'output.weight' is not available" before). A small model fits any RAM the
    // page can express, so the budget comes from a long context on 2 GB: one step past the
    // longest context Q4_K_M allows leaves weights between Q3_K_M's and Q4_K_M's. The plan is
    // the one `quantize --fit-ram` makes for the same machine.
    void selectedFitRowOfAnOpenedGgufIsPlanned()
    {
        const QString path = m_dir.filePath(QStringLiteral("long-context-F16.gguf"));
        SyntheticModelOptions o;
        o.nHeadsKv = 2;
        o.nCtx = 1u << 20;
        o.type = GgmlType::F16;
        NullJobContext ctx;
        writeSyntheticModel(path, o, ctx);

        AdvisePage page;
        page.show();
        page.openGguf(path);
        QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 60000);
        QCOMPARE(page.currentModelId(), path);
        page.setRamGb(2);
        page.findChild<QDoubleSpinBox *>(QStringLiteral("reserve"))->setValue(0.1);
        page.findChild<QCheckBox *>(QStringLiteral("flash"))->setChecked(true);
        auto *table = page.findChild<QTableView *>(QStringLiteral("levels"));
        auto *model = qobject_cast<AdviceTableModel *>(table->model());
        std::uint32_t q3Longest = 0, q4Longest = 0;
        for (const QuantRow &r : model->rows()) {
            if (r.name == QStringLiteral("Q3_K_M"))
                q3Longest = r.longestContextTokens;
            if (r.name == QStringLiteral("Q4_K_M"))
                q4Longest = r.longestContextTokens;
        }
        QVERIFY2(q3Longest > q4Longest, qPrintable(QStringLiteral("%1 %2").arg(q3Longest).arg(q4Longest)));
        const std::uint32_t context = q4Longest + 256;
        page.setContextTokens(int(context));
        const int fit = model->fitRow();
        QVERIFY(fit > 0);
        table->selectRow(fit);
        // The row's plan and the command line's both measure the sensitivities (the default for
        // a model whose estimate is seconds): about 45 s each in a sanitizer build.
        QTRY_VERIFY_WITH_TIMEOUT(!page.isBusy(), 300000);
        const ExactFit &f = *model->exactFit();
        QVERIFY2(f.planError.isEmpty(), qPrintable(f.planError));
        QVERIFY(f.plannedTensorBytes);
        QVERIFY(*f.plannedTensorBytes <= f.budgetBytes);

        const Test::CliResult cli = Test::runCli(
            {QStringLiteral("quantize"), path, QStringLiteral("--fit-ram"), QStringLiteral("2"),
             QStringLiteral("--reserve"), QStringLiteral("0.1"), QStringLiteral("--context"),
             QString::number(context), QStringLiteral("--flash-attn"), QStringLiteral("--dry-run")},
            300000);
        QVERIFY2(cli.exitCode == 0, cli.err.constData());
        const QString out = QString::fromUtf8(cli.out);
        QVERIFY2(out.contains(QLatin1String("sensitivity: measured sensitivity (auto: ")), cli.out.constData());
        const auto number = [&](const QString &pattern) {
            return QRegularExpression(pattern).match(out).captured(1).toULongLong();
        };
        QCOMPARE(f.budgetBytes, number(QStringLiteral(R"(weights of at most [^(]*\((\d+) bytes\))")));
        QCOMPARE(*f.plannedTensorBytes, number(QStringLiteral(R"(fitted: (\d+) bytes of tensor data)")));
    }

    // Advise's "Fit to this machine" with an opened GGUF: Convert reads the source and shows the
    // fit's recipe table without another click.
    void fitToMachinePreviewsOnceTheSourceIsRead()
    {
        JobRunner runner;
        ConvertPage page(&runner);
        page.resize(1400, 850);
        page.show();
        page.setSource(m_model);
        QVERIFY(page.isLoading());
        page.fitToMachine(8'000'000'000, 1024, KvCacheType::Q8_0); // the model's maximum is 2048
        QTRY_VERIFY_WITH_TIMEOUT(page.fitPanel()->recipeTree()->isVisible(), 60000);
        QVERIFY(page.fitPanel()->recipeTree()->topLevelItemCount() > 0);

        // The recipe gets the height: the dry-run table, empty with a fit, folds away, and the
        // first 8 lines show without scrolling (a 22-layer model's recipe showed 5 of 14 at
        // 1400x900, over an empty preview table).
        auto *preview = page.findChild<PlanPreview *>(QStringLiteral("preview"));
        QVERIFY(!preview->tree()->isVisible());
        QTreeWidget *recipe = page.fitPanel()->recipeTree();
        QTest::qWait(50); // the layout settles
        const int shown = std::min(recipe->topLevelItemCount(), 8);
        QVERIFY(recipe->viewport()->rect().contains(recipe->visualItemRect(recipe->topLevelItem(shown - 1))));
        QVERIFY(recipe->height() >= 8 * recipe->fontMetrics().height());
        page.fitPanel()->setChecked(false);
        QVERIFY(preview->tree()->isVisible());
    }

    // Unchecked, the fit group is one line: no empty frame under its title.
    void fitGroupFoldsAway()
    {
        QWidget window;
        auto *layout = new QVBoxLayout(&window);
        auto &panel = *new FitPanel(&window);
        layout->addWidget(&panel);
        layout->addStretch();
        window.resize(800, 600);
        window.show();
        QVERIFY(QTest::qWaitForWindowExposed(&window));
        QVERIFY2(panel.height() <= panel.fontMetrics().height() + 4,
                 qPrintable(QStringLiteral("%1 > %2, max %3").arg(panel.height())
                                .arg(panel.fontMetrics().height() + 4).arg(panel.maximumHeight())));
        QVERIFY(!panel.recipeTree()->parentWidget()->isVisible());
        panel.setChecked(true);
        QVERIFY(panel.recipeTree()->parentWidget()->isVisible());
        QVERIFY(panel.maximumHeight() > 1000);
    }

    // A file size set from outside (Advise, a test) changes the budget only: the sensitivity box
    // keeps its three choices and the user's pick (it gained three more items per call).
    void setFileSizeKeepsTheSensitivityChoice()
    {
        FitPanel panel;
        auto *box = panel.findChild<QComboBox *>(QStringLiteral("sensitivity"));
        QVERIFY(box);
        QCOMPARE(box->count(), 3);
        box->setCurrentIndex(2);
        panel.setFileSize(1'500'000);
        panel.setFileSize(2'500'000);
        QCOMPARE(box->count(), 3);
        QCOMPARE(box->currentIndex(), 2);
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
