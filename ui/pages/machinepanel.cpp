#include "machinepanel.h"

#include "advisor/advisor.h"
#include "advisor/machineadvice.h"
#include "advisor/machineprofile.h"
#include "gguf/ggufreader.h"
#include "system/gpuinfo.h"
#include "system/measuredspeed.h"
#include "system/systeminfo.h"
#include "util/error.h"

#include <QBoxLayout>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QFormLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QScrollArea>
#include <QTableWidget>

using namespace QuantFit;

struct MachinePanel::MapCache {
    QString key;
    std::vector<std::pair<FileType, WeightMap>> maps;
};

namespace {

// What the weight maps depend on: the shape facts that change tensor sizes.
QString shapeKey(const ModelShape &s)
{
    return QStringLiteral("%1|%2|%3|%4|%5|%6|%7|%8|%9")
        .arg(s.id, s.architecture)
        .arg(s.nLayers)
        .arg(s.nEmbd)
        .arg(s.nFf)
        .arg(s.nExperts)
        .arg(s.nFfExpert)
        .arg(s.nVocab)
        .arg(s.paramsBillions);
}

QString gb(double bytes)
{
    const double v = bytes / 1e9;
    return QString::number(v, 'f', v >= 10 ? 1 : 2);
}

QString tps(double v)
{
    return QString::number(v, 'f', v >= 100 ? 0 : 1);
}

QString deviceText(const DeviceMemory &d)
{
    return QObject::tr("%1 GB (weights %2, KV cache %3, compute %4%5)")
        .arg(gb(double(d.totalBytes())), gb(double(d.weightsBytes)), gb(double(d.kvCacheBytes)),
             gb(double(d.computeBytes)),
             d.overheadBytes ? QObject::tr(", runtime %1").arg(gb(double(d.overheadBytes)))
                             : QString());
}

} // namespace

MachinePanel::MachinePanel(QWidget *parent)
    : QWidget(parent)
    , m_maps(std::make_unique<MapCache>())
    , m_machine(new QComboBox(this))
    , m_vram(new QDoubleSpinBox(this))
    , m_gpuBandwidth(new QDoubleSpinBox(this))
    , m_machineFacts(new QLabel(this))
    , m_summary(new QLabel(this))
    , m_speed(new QLabel(this))
    , m_command(new QLineEdit(this))
    , m_runners(new QLabel(this))
    , m_levels(new QTableWidget(this))
{
    m_machine->setObjectName(QStringLiteral("machine"));
    m_vram->setObjectName(QStringLiteral("customVram"));
    m_gpuBandwidth->setObjectName(QStringLiteral("customGpuBandwidth"));
    m_machineFacts->setObjectName(QStringLiteral("machineFacts"));
    m_summary->setObjectName(QStringLiteral("placementSummary"));
    m_speed->setObjectName(QStringLiteral("speed"));
    m_command->setObjectName(QStringLiteral("llamaCommand"));
    m_runners->setObjectName(QStringLiteral("runnerSettings"));
    m_levels->setObjectName(QStringLiteral("machineLevels"));

    m_machine->addItem(tr("RAM only (the size above)"), QString());
    for (const MachineProfile &m : machinePresets())
        m_machine->addItem(m.name, m.id);
    m_machine->addItem(tr("This machine (detected)"), QStringLiteral("detect"));
    m_machine->addItem(tr("Custom GPU + the RAM above"), QStringLiteral("custom"));
    m_machine->setToolTip(tr("Where the model runs: system RAM only, a preset with a GPU or "
                             "unified memory, this computer, or your own GPU figures"));
    m_vram->setRange(1, 1024);
    m_vram->setValue(24);
    m_vram->setSuffix(tr(" GB"));
    m_vram->setToolTip(tr("The GPU's memory (VRAM)"));
    m_gpuBandwidth->setRange(10, 20000);
    m_gpuBandwidth->setValue(1000);
    m_gpuBandwidth->setDecimals(0);
    m_gpuBandwidth->setSuffix(tr(" GB/s"));
    m_gpuBandwidth->setToolTip(tr("The GPU's published memory bandwidth"));
    m_command->setReadOnly(true);
    for (QLabel *l : {m_machineFacts, m_summary, m_speed, m_runners}) {
        l->setWordWrap(true);
        l->setTextInteractionFlags(Qt::TextSelectableByMouse);
    }
    m_levels->setColumnCount(7);
    m_levels->setHorizontalHeaderLabels({tr("Quant"), tr("Weights GB"), tr("Placement"),
                                         tr("-ngl"), tr("--n-cpu-moe"), tr("Longest context"),
                                         tr("Generation t/s")});
    m_levels->verticalHeader()->setVisible(false);
    m_levels->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_levels->setEditTriggers(QAbstractItemView::NoEditTriggers);

    auto *form = new QFormLayout;
    form->addRow(tr("&Machine:"), m_machine);
    auto *customRow = new QHBoxLayout;
    customRow->addWidget(m_vram);
    customRow->addWidget(m_gpuBandwidth);
    form->addRow(tr("Custom GPU:"), customRow);
    form->addRow(m_machineFacts);
    // The facts are long sentences: they scroll rather than squeeze the level table above.
    auto *content = new QWidget;
    auto *layout = new QVBoxLayout(content);
    layout->addLayout(form);
    // The placement, then what to type, then the speed with its long basis: the command line
    // stays in view at 1280x800 even when the facts run long.
    layout->addWidget(m_summary);
    layout->addWidget(m_command);
    layout->addWidget(m_runners);
    layout->addWidget(m_speed);
    m_levels->setMinimumHeight(fontMetrics().height() * 14);
    layout->addWidget(m_levels, 1);
    auto *scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setWidget(content);
    auto *outer = new QVBoxLayout(this);
    outer->setContentsMargins(0, 0, 0, 0);
    outer->addWidget(scroll);

    const auto changed = [this] {
        const bool custom = machineId() == QLatin1String("custom");
        m_vram->setEnabled(custom);
        m_gpuBandwidth->setEnabled(custom);
        recompute();
    };
    connect(m_machine, &QComboBox::currentIndexChanged, this, [this, changed] {
        changed();
        emit machineChanged(machineId());
    });
    connect(m_vram, &QDoubleSpinBox::valueChanged, this, changed);
    connect(m_gpuBandwidth, &QDoubleSpinBox::valueChanged, this, changed);
    m_vram->setEnabled(false);
    m_gpuBandwidth->setEnabled(false);
    clear();
}

MachinePanel::~MachinePanel() = default;

bool MachinePanel::selectMachine(const QString &id)
{
    const int i = m_machine->findData(id);
    if (i < 0)
        return false;
    m_machine->setCurrentIndex(i);
    return true;
}

QString MachinePanel::machineId() const
{
    return m_machine->currentData().toString();
}

void MachinePanel::setAdvice(const ModelAdvice &advice, std::shared_ptr<const GgufFile> file,
                             const QString &path)
{
    m_advice = std::make_unique<ModelAdvice>(advice);
    m_file = std::move(file);
    m_path = path;
    recompute();
}

void MachinePanel::clear()
{
    m_advice.reset();
    m_file.reset();
    m_summary->setText(tr("Choose a machine with a GPU to see where the model runs and how fast."));
    m_speed->clear();
    m_command->clear();
    m_runners->clear();
    m_levels->setRowCount(0);
}

MachineProfile MachinePanel::currentMachine() const
{
    const QString id = machineId();
    const std::uint64_t ram = m_advice ? m_advice->options.ramBytes : 0;
    if (id == QLatin1String("detect"))
        return detectedMachine(SystemInfo::current(), detectGpus(), loadMeasuredSpeed());
    if (const auto preset = findMachinePreset(id))
        return *preset;
    MachineProfile m = cpuOnlyMachine(ram);
    if (id == QLatin1String("custom")) {
        MachineOverrides o;
        o.vramBytes = std::uint64_t(m_vram->value() * 1e9);
        o.gpuBandwidth = m_gpuBandwidth->value() * 1e9;
        m = applyOverrides(m, o);
    }
    return m;
}

void MachinePanel::recompute()
{
    const MachineProfile machine = currentMachine();
    QString facts = tr("%1 — %2. RAM %3 GB (%4).")
                        .arg(machine.name.toHtmlEscaped(), machineKindName(machine.kind),
                             gb(double(machine.ramBytes)), machine.ramSource.toHtmlEscaped());
    if (machine.hasGpu())
        facts += tr("<br>GPU %1 may use %2 GB (%3); bandwidth %4 GB/s effective (%5).")
                     .arg(machine.gpuName.toHtmlEscaped(), gb(double(machine.gpuLimitBytes())),
                          machine.gpuMemorySource.toHtmlEscaped())
                     .arg(machine.gpuBandwidth / 1e9, 0, 'f', 0)
                     .arg(machine.gpuBandwidthSource.toHtmlEscaped());
    facts += tr("<br>CPU bandwidth %1 GB/s effective (%2).")
                 .arg(machine.cpuBandwidth / 1e9, 0, 'f', 1)
                 .arg(machine.cpuBandwidthSource.toHtmlEscaped());
    for (const QString &n : machine.notes)
        facts += QStringLiteral("<br><i>%1</i>").arg(n.toHtmlEscaped());
    m_machineFacts->setText(facts);
    if (!m_advice)
        return;
    PlacementOptions o;
    o.contextTokens = m_advice->options.contextTokens;
    o.kvType = m_advice->options.kvType;
    o.flashAttention = m_advice->options.flashAttention;
    o.reserveBytes = m_advice->options.reserveBytes;
    o.nSlots = m_advice->options.parallelSlots;
    try {
        if (m_file) {
            o.modelFile = QFileInfo(m_path).fileName();
            showAdvice(adviseFileOnMachine(machine, m_advice->model,
                                           weightMapForFile(*m_file, m_advice->model.nLayers),
                                           o.modelFile, o));
        } else {
            o.modelFile = m_advice->model.id + QStringLiteral("-QUANT.gguf");
            const LevelChoice choice{.quant = std::nullopt,
                                     .ramRecommendation = m_advice->recommendation.fileType};
            QString key = shapeKey(m_advice->model);
            if (choice.ramRecommendation)
                key += QLatin1Char('|') + fileTypeName(*choice.ramRecommendation);
            if (m_maps->key != key) {
                m_maps->maps = machineLevelMaps(m_advice->model, choice);
                m_maps->key = key;
            }
            MachineAdvice a = adviseOnMachine(machine, m_advice->model, m_maps->maps, o, choice);
            for (LevelPlacement &l : a.levels)
                l.placement.llamaCommand.replace(QStringLiteral("-QUANT.gguf"),
                                                 QStringLiteral("-%1.gguf").arg(l.name));
            showAdvice(a);
        }
    } catch (const Error &e) {
        m_summary->setText(e.message());
        m_speed->clear();
        m_command->clear();
        m_runners->clear();
        m_levels->setRowCount(0);
    }
}

void MachinePanel::showAdvice(const MachineAdvice &a)
{
    const LevelPlacement &l = a.chosenLevel();
    const Placement &p = l.placement;
    QString summary = tr("<b>%1: %2</b> — %3").arg(l.name.toHtmlEscaped(),
                                                    placementModeName(p.mode),
                                                    a.chosenReason.toHtmlEscaped());
    if (!a.moeNote.isEmpty())
        summary += QStringLiteral("<br>") + a.moeNote.toHtmlEscaped();
    summary += QStringLiteral("<br>") + p.explanation.join(QLatin1Char(' ')).toHtmlEscaped();
    if (a.machine.hasGpu())
        summary += tr("<br>GPU: %1 of %2 GB.").arg(deviceText(p.gpu), gb(double(p.gpuLimitBytes)));
    summary += tr("<br>System RAM: %1; with the %2 GB reserve%3: %4 of %5 GB.")
                   .arg(deviceText(p.host), gb(double(p.reserveBytes)),
                        a.machine.gpuSharesRam() ? tr(" and the GPU's share") : QString(),
                        gb(double(p.ramUsedBytes)), gb(double(p.systemRamBytes)));
    summary += tr("<br>Longest context with this placement: %1 tokens.")
                   .arg(QLocale().toString(p.longestContextTokens));
    m_summary->setText(summary);
    if (p.fits()) {
        // A generation QuantFit measured on this file replaces the estimate (the basis says so).
        const QString kind = l.speed.generationMeasured
            ? tr("generation measured, prompt estimated")
            : tr("estimates");
        m_speed->setText(tr("<b>Generation %1 tokens/s, prompt %2 tokens/s</b> (%3)<br>%4")
                             .arg(tps(l.speed.generationTokensPerSecond),
                                  tps(l.speed.promptTokensPerSecond), kind,
                                  l.speed.basis.join(QStringLiteral("<br>")).toHtmlEscaped()
                                      .replace(QStringLiteral("&lt;br&gt;"),
                                               QStringLiteral("<br>"))));
        m_command->setText(p.llamaCommand);
        QStringList runners;
        if (!p.lmStudio.isEmpty())
            runners << tr("LM Studio: %1").arg(p.lmStudio);
        if (!p.ollama.isEmpty())
            runners << tr("Ollama: %1").arg(p.ollama);
        m_runners->setText(runners.join(QLatin1Char('\n')));
    } else {
        m_speed->clear();
        m_command->clear();
        m_runners->clear();
    }
    m_levels->setRowCount(int(a.levels.size()));
    for (int r = 0; r < int(a.levels.size()); ++r) {
        const LevelPlacement &x = a.levels[std::size_t(r)];
        const bool fits = x.placement.fits();
        const QStringList cells{
            x.name + (std::size_t(r) == a.chosen ? QStringLiteral(" *") : QString()),
            gb(double(x.weightsBytes)),
            placementModeName(x.placement.mode),
            fits ? QString::number(x.placement.nGpuLayers) : QStringLiteral("–"),
            fits ? QString::number(x.placement.nCpuMoe) : QStringLiteral("–"),
            QLocale().toString(x.placement.longestContextTokens),
            fits ? tps(x.speed.generationTokensPerSecond) : QStringLiteral("–")};
        for (int c = 0; c < cells.size(); ++c)
            m_levels->setItem(r, c, new QTableWidgetItem(cells[c]));
    }
}
