#include "uitestsupport.h"

#include "catalog/modelshape.h"
#include "pages/advisepage.h"
#include "widgets/memorybar.h"

#include <QAbstractItemModel>
#include <QTableView>
#include <QTest>

// Expected values are the product brief's "Recommendations by System" tables
// (restated in the README, "Recommendation"): the "Best balance"/"Best fit" row per RAM size.
class TestUiAdvise : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void ramChangesTheRecommendation();
    void memoryBarFollowsRamInstantly();
    void tableListsEveryLevelWithBadges();
    void enteredShapeIsAdvised();

private:
    QTemporaryDir m_dir;
};

void TestUiAdvise::initTestCase()
{
    QVERIFY(m_dir.isValid());
    isolateAppFolders(m_dir);
}

void TestUiAdvise::ramChangesTheRecommendation()
{
    AdvisePage page;
    page.show();
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));

    // 32 GB: "Best balance | 8B Q8_0"
    page.setRamGb(32);
    page.waitUntilIdle();
    const QString at32 = page.priorityRowText(0);
    QVERIFY2(at32.contains(QStringLiteral("8b")) && at32.endsWith(QStringLiteral("Q8_0")), qPrintable(at32));

    const QString rec32 = page.recommendedQuant(); // 70B on 32 GB: at most a low level

    // 64 GB: "Best fit | 70B Q3_K_M"
    page.setRamGb(64);
    page.waitUntilIdle();
    const QString at64 = page.priorityRowText(0);
    QVERIFY2(at64.contains(QStringLiteral("70b")) && at64.endsWith(QStringLiteral("Q3_K_M")), qPrintable(at64));
    const QString rec64 = page.recommendedQuant();
    QVERIFY(!rec64.isEmpty());
    QVERIFY(rec64 != rec32);

    // 128 GB: "Best balance | 70B Q4_K_M"
    page.setRamGb(128);
    page.waitUntilIdle();
    const QString at128 = page.priorityRowText(0);
    QVERIFY2(at128.contains(QStringLiteral("70b")) && at128.endsWith(QStringLiteral("Q4_K_M")), qPrintable(at128));
    QVERIFY(!page.recommendedQuant().isEmpty());
    QVERIFY(page.recommendedQuant() != rec32);
    QVERIFY(page.explanationText().contains(page.recommendedQuant()));
}

void TestUiAdvise::memoryBarFollowsRamInstantly()
{
    AdvisePage page;
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-8b")));
    page.setRamGb(32);
    // No event loop turn in between: the bar is updated synchronously.
    QCOMPARE(page.memoryBar()->capacityBytes(), std::uint64_t(32e9));
    const std::uint64_t total32 = page.memoryBar()->totalBytes();
    QVERIFY(total32 > 0);
    page.setRamGb(64);
    QCOMPARE(page.memoryBar()->capacityBytes(), std::uint64_t(64e9));
    page.setContextTokens(32768);
    // A longer context needs a larger KV cache (Llama 3.1 8B: 131072 bytes per token at f16).
    QVERIFY(page.memoryBar()->totalBytes() > total32);
    page.waitUntilIdle();
}

void TestUiAdvise::tableListsEveryLevelWithBadges()
{
    AdvisePage page;
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));
    page.setRamGb(64);
    QAbstractItemModel *model = page.table()->model();
    QCOMPARE(model->rowCount(), 10); // Q2_K .. F16, the brief's table
    bool sawFit = false, sawNoFit = false, sawRecommended = false;
    for (int r = 0; r < model->rowCount(); ++r) {
        const QString badge = model->index(r, 6).data().toString();
        sawFit = sawFit || badge.contains(QStringLiteral("Comfortable")) || badge.contains(QStringLiteral("Tight"));
        sawNoFit = sawNoFit || badge.contains(QStringLiteral("Does not fit"));
        sawRecommended = sawRecommended || model->index(r, 0).data().toString().contains(QStringLiteral("★"));
    }
    QVERIFY(sawFit);
    QVERIFY(sawNoFit); // F16 of a 70B model (141 GB) does not fit in 64 GB
    QVERIFY(sawRecommended);
    page.waitUntilIdle();
}

void TestUiAdvise::enteredShapeIsAdvised()
{
    AdvisePage page;
    // Llama 3.1 8B's published shape, entered by hand.
    QuantFit::ModelShape shape;
    shape.id = QStringLiteral("custom");
    shape.name = QStringLiteral("My 8B");
    shape.nLayers = 32;
    shape.nEmbd = 4096;
    shape.nFf = 14336;
    shape.nHeads = 32;
    shape.nHeadsKv = 8;
    shape.headDim = 128;
    shape.nVocab = 128256;
    shape.nCtxMax = 131072;
    shape.paramsBillions = 8.03;
    page.setRamGb(32);
    page.setCustomShape(shape);
    QCOMPARE(page.currentModelId(), QStringLiteral("custom"));
    QCOMPARE(page.table()->model()->rowCount(), 10);
    QVERIFY(!page.recommendedQuant().isEmpty()); // an 8B model fits 32 GB
    // Back to the catalog drops the entered shape.
    QVERIFY(page.selectCatalogModel(QStringLiteral("llama-3.1-70b")));
    QCOMPARE(page.currentModelId(), QStringLiteral("llama-3.1-70b"));
    page.waitUntilIdle();
}

QTEST_MAIN(TestUiAdvise)
#include "testadvisepage.moc"
