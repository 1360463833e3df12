// The compute-ceiling benchmark (infer/dotthroughput.h): what it measures over, that it runs
// the types it can and skips the others, and that bad options are refused. Its speed is not
// asserted (that is quantfit-bench's job), only that each rate is a positive, finite figure.

#include "infer/dotthroughput.h"
#include "util/error.h"

#include <QTest>

#include <cmath>

using namespace QuantFit;
using namespace QuantFit::Infer;

class TestInferDotThroughput : public QObject
{
    Q_OBJECT

private slots:
    void measuresEachType()
    {
        DotThroughputOptions o;
        o.types = {GgmlType::Q4_K, GgmlType::F16, GgmlType::Q8_K}; // Q8_K: activations only
        o.nThreads = 1;
        o.secondsPerType = 0.005;
        o.bytesPerThread = 64 * 1024;
        int seen = 0;
        const std::vector<DotThroughput> r =
            measureDotThroughput(o, [&](const DotThroughput &) { ++seen; });
        QCOMPARE(r.size(), std::size_t(2));
        QCOMPARE(seen, 2);
        QCOMPARE(r[0].type, GgmlType::Q4_K);
        QCOMPARE(r[1].type, GgmlType::F16);
        for (const DotThroughput &d : r) {
            QCOMPARE(d.threads, 1);
            QVERIFY(d.bytesPerSecond > 0 && std::isfinite(d.bytesPerSecond));
            // Rows of 4096 values: a Q4_K row is 16 blocks of 144 bytes, an F16 row 8192
            // bytes; at least 16 rows per thread, else about 64 KiB.
            const std::uint64_t row = d.type == GgmlType::Q4_K ? 16 * 144 : 8192;
            QVERIFY(d.matrixBytes % row == 0);
            QVERIFY(d.matrixBytes >= std::max<std::uint64_t>(16 * row, 64 * 1024 - row));
        }
    }

    void defaultTypesAreModelTypes()
    {
        const std::vector<GgmlType> types = defaultDotThroughputTypes();
        for (GgmlType t : {GgmlType::F16, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q6_K,
                           GgmlType::IQ4_XS, GgmlType::MXFP4})
            QVERIFY(std::find(types.begin(), types.end(), t) != types.end());
    }

    void refusesBadOptions()
    {
        DotThroughputOptions o;
        o.nThreads = -1;
        QVERIFY_THROWS_EXCEPTION(Error, measureDotThroughput(o));
        o = {};
        o.secondsPerType = 0;
        QVERIFY_THROWS_EXCEPTION(Error, measureDotThroughput(o));
        o = {};
        o.bytesPerThread = 16;
        QVERIFY_THROWS_EXCEPTION(Error, measureDotThroughput(o));
    }
};

QTEST_APPLESS_MAIN(TestInferDotThroughput)
#include "testinferdotthroughput.moc"
