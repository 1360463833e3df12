#include "advisepage.h"

#include "advisor/advisor.h"
#include "catalog/catalog.h"
#include "common/palette.h"
#include "gguf/ggufreader.h"
#include "jobs/modelloader.h"
#include "machinepanel.h"
#include "model/modelinfo.h"
#include "models/advicechartdata.h"
#include "models/advicetablemodel.h"
#include "jobs/jobcontext.h"
#include "system/systeminfo.h"
#include "tasks/fitpreview.h"
#include "util/error.h"
#include "util/units.h"
#include "widgets/memorybar.h"
#include "widgets/modelshapedialog.h"
#include "widgets/prioritypanel.h"
#include "widgets/recommendationpanel.h"

#include <QBoxLayout>
#include <QButtonGroup>
#include <QCheckBox>
#include <QComboBox>
#include <QCompleter>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSlider>
#include <QTabWidget>
#include <QTableView>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>

using namespace QuantFit;

static constexpr int kContextStep = 256;
static constexpr int kMinContextTokens = 512;

// The model combo holds the catalog plus at most one opened GGUF ("gguf:PATH") and one entered
// shape ("shape:"); removes the entry whose data starts with `prefix`.
static void removeEntry(QComboBox *combo, const QString &prefix)
{
    const int index = combo->findData(prefix, Qt::UserRole, Qt::MatchStartsWith);
    if (index >= 0)
        combo->removeItem(index);
}

AdvisePage::AdvisePage(QWidget *parent)
    : QWidget(parent)
    , m_ramPresets(new QButtonGroup(this))
    , m_ram(new QDoubleSpinBox(this))
    , m_reserve(new QDoubleSpinBox(this))
    , m_model(new QComboBox(this))
    , m_openGguf(new QPushButton(tr("Open &GGUF…"), this))
    , m_enterShape(new QPushButton(tr("&Shape…"), this))
    , m_modelInfo(new QLabel(this))
    , m_context(new QSlider(Qt::Horizontal, this))
    , m_contextLabel(new QLabel(this))
    , m_kvType(new QComboBox(this))
    , m_flash(new QCheckBox(tr("Fla&sh attention"), this))
    , m_qualityCritical(new QCheckBox(tr("&Quality is critical"), this))
    , m_vision(new QCheckBox(tr("&Vision (image input)"), this))
    , m_memoryBar(new MemoryBar(this))
    , m_recommendation(new RecommendationPanel(this))
    , m_tableModel(new AdviceTableModel(this))
    , m_table(new QTableView(this))
    , m_convertButton(new QPushButton(tr("Convert &with this quant…"), this))
{
    try {
        m_advisor = std::make_shared<Advisor>();
    } catch (const Error &e) {
        m_advisor.reset(); // a broken built-in catalog is a build defect; say so on the page
        showError(e.message());
    }
    m_detectedRamBytes = SystemInfo::current().totalRamBytes;

    // Names for tests and accessibility tools, which find the widgets by them.
    m_ram->setObjectName(QStringLiteral("ram"));
    m_reserve->setObjectName(QStringLiteral("reserve"));
    m_model->setObjectName(QStringLiteral("model"));
    m_context->setObjectName(QStringLiteral("context"));
    m_kvType->setObjectName(QStringLiteral("kvType"));
    m_flash->setObjectName(QStringLiteral("flash"));
    m_qualityCritical->setObjectName(QStringLiteral("qualityCritical"));
    m_vision->setObjectName(QStringLiteral("vision"));
    m_memoryBar->setObjectName(QStringLiteral("memoryBar"));
    m_recommendation->setObjectName(QStringLiteral("recommendation"));
    m_table->setObjectName(QStringLiteral("levels"));
    m_convertButton->setObjectName(QStringLiteral("convert"));

    auto *left = new QWidget(this);
    auto *leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(createMachineBox());
    leftLayout->addWidget(createModelBox());
    leftLayout->addWidget(createRunBox());
    leftLayout->addStretch();
    left->setMaximumWidth(360);

    auto *layout = new QHBoxLayout(this);
    layout->addWidget(left);
    layout->addWidget(createResults(), 1);

    fillModelCombo();
    restoreSettings(); // before the connections, so restoring does not recompute every step
    connectControls();

    syncRamControls();
    recompute();
    recomputeSystem();
}

//
// layout
//

QGroupBox *AdvisePage::createMachineBox()
{
    auto *box = new QGroupBox(tr("Your machine"), this);
    auto *presetRow = new QHBoxLayout;
    const int presets[] = {32, 64, 128};
    const char *mnemonics[] = {"&32 GB", "&64 GB", "12&8 GB"};
    for (int i = 0; i < 3; ++i) {
        auto *b = new QPushButton(tr(mnemonics[i]), this);
        b->setCheckable(true);
        b->setToolTip(tr("Advise for a machine with %1 GB of RAM").arg(presets[i]));
        m_ramPresets->addButton(b, presets[i]);
        presetRow->addWidget(b);
    }
    auto *detected = new QPushButton(tr("&Detected: %1").arg(formatGB(m_detectedRamBytes, 1)), this);
    detected->setCheckable(true);
    detected->setToolTip(tr("The RAM of this computer"));
    m_ramPresets->addButton(detected, 0);
    m_ram->setRange(1, 4096);
    m_ram->setDecimals(1);
    m_ram->setSuffix(tr(" GB"));
    m_ram->setToolTip(tr("Any RAM size (decimal gigabytes, as model cards count them)"));
    m_reserve->setRange(0, 256);
    m_reserve->setDecimals(1);
    m_reserve->setSuffix(tr(" GB"));
    m_reserve->setToolTip(tr("Memory kept for the operating system, desktop and other programs"));
    auto *form = new QFormLayout(box);
    form->addRow(presetRow);
    form->addRow(detected);
    form->addRow(tr("&RAM:"), m_ram);
    form->addRow(tr("OS r&eserve:"), m_reserve);
    return box;
}

QGroupBox *AdvisePage::createModelBox()
{
    auto *box = new QGroupBox(tr("Model"), this);
    m_model->setEditable(true);
    m_model->setInsertPolicy(QComboBox::NoInsert);
    m_model->completer()->setFilterMode(Qt::MatchContains);
    m_model->completer()->setCompletionMode(QCompleter::PopupCompletion);
    m_model->setToolTip(tr("Type to search the built-in catalog of open-weight models"));
    m_model->lineEdit()->setPlaceholderText(tr("Search models…"));
    m_model->setMinimumContentsLength(18);
    m_openGguf->setToolTip(tr("Advise for a GGUF file: exact sizes from its real tensors"));
    m_enterShape->setToolTip(tr("Enter a model's shape (layers, widths, heads, vocabulary) from its config.json"));
    auto *row = new QHBoxLayout;
    row->addWidget(m_model, 1);
    row->addWidget(m_openGguf);
    row->addWidget(m_enterShape);
    m_modelInfo->setWordWrap(true);
    auto *label = new QLabel(tr("Mode&l:"), this);
    label->setBuddy(m_model);
    auto *layout = new QVBoxLayout(box);
    layout->addWidget(label);
    layout->addLayout(row);
    layout->addWidget(m_modelInfo);
    return box;
}

QGroupBox *AdvisePage::createRunBox()
{
    auto *box = new QGroupBox(tr("How you run it"), this);
    m_context->setSingleStep(1);
    m_context->setPageStep(8);
    m_context->setToolTip(tr("Context length in tokens; the KV cache grows with it"));
    m_kvType->addItem(QStringLiteral("f16"), int(KvCacheType::F16));
    m_kvType->addItem(QStringLiteral("q8_0"), int(KvCacheType::Q8_0));
    m_kvType->addItem(QStringLiteral("q4_0"), int(KvCacheType::Q4_0));
    m_kvType->setToolTip(tr("Element type of the KV cache (llama.cpp --cache-type-k/-v): f16 2 "
                            "bytes, q8_0 1.06 bytes, q4_0 0.56 bytes per element"));
    m_flash->setToolTip(tr("Flash attention needs smaller compute buffers and allows a quantized V cache"));
    m_qualityCritical->setToolTip(tr("Prefer a smaller model at a higher quant over a larger model at a low quant"));
    m_vision->setToolTip(tr("Count the vision projector (mmproj file) of models that read images"));
    auto *form = new QFormLayout(box);
    auto *contextLabel = new QLabel(tr("&Context:"), this);
    contextLabel->setBuddy(m_context);
    form->addRow(contextLabel, m_contextLabel);
    form->addRow(m_context);
    form->addRow(tr("&KV cache:"), m_kvType);
    form->addRow(m_flash);
    form->addRow(m_qualityCritical);
    form->addRow(m_vision);
    return box;
}

// The recommendation and the memory bar over three tabs: the quant levels, the placement and
// speed on a machine profile, and the priority rows. Tabs rather than a splitter: each part
// needs most of the height at 1280x800 (the ten levels and the fit row, the placement's
// sentences and its per-level table), and each is one click away.
QWidget *AdvisePage::createResults()
{
    m_table->setModel(m_tableModel);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->verticalHeader()->setVisible(false);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    // No stretched column: at 1920 pixels a stretched Speed column put its figures far from the
    // rest of their row.
    m_table->horizontalHeader()->setStretchLastSection(false);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 8);
    m_convertButton->setToolTip(tr("Open the Convert page with this quant selected"));
    m_fitButton = new QPushButton(tr("&Fit exactly…"), this);
    m_fitButton->setObjectName(QStringLiteral("fitExactlyButton"));
    m_fitButton->setToolTip(tr("Convert to one file whose per-tensor types are chosen so that the "
                               "weights take exactly what this machine leaves at this context "
                               "(the table's \"Fit exactly\" row)"));
    connect(m_fitButton, &QPushButton::clicked, this, &AdvisePage::requestFit);
    auto *buttons = new QHBoxLayout;
    auto *hint = new QLabel(tr("Select a level for the memory bar; double-click to convert it."), this);
    hint->setForegroundRole(QPalette::PlaceholderText);
    hint->setWordWrap(true); // no minimum width of its own: the window may be narrow
    buttons->addWidget(hint, 1);
    buttons->addWidget(m_fitButton);
    buttons->addWidget(m_convertButton);

    auto *levels = new QWidget(this);
    auto *levelsLayout = new QVBoxLayout(levels);
    levelsLayout->addWidget(m_table, 1);
    levelsLayout->addLayout(buttons);

    m_machinePanel = new MachinePanel(this);
    m_machinePanel->setObjectName(QStringLiteral("machinePanel"));
    m_priorities = new PriorityPanel(m_advisor, this);
    m_priorities->setObjectName(QStringLiteral("priorities"));

    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("adviseTabs"));
    m_tabs->setDocumentMode(true);
    m_tabs->addTab(levels, tr("Q&uant levels"));
    m_tabs->addTab(m_machinePanel, tr("Placement and s&peed"));
    m_tabs->addTab(m_priorities, tr("&Best models for this RAM"));
    m_tabs->setTabToolTip(0, tr("Every quant level of this model: size, memory at the context, "
                                "longest context, fit, quality and speed"));
    m_tabs->setTabToolTip(1, tr("Where llama.cpp puts the model on a machine with a GPU or unified "
                                "memory (-ngl, --n-cpu-moe), memory per device, tokens/s and the "
                                "command line"));
    m_tabs->setTabToolTip(2, tr("The strongest model of each priority that fits this RAM"));

    auto *results = new QWidget(this);
    auto *layout = new QVBoxLayout(results);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_recommendation);
    layout->addWidget(m_memoryBar);
    layout->addWidget(m_tabs, 1);
    return results;
}

void AdvisePage::restoreSettings()
{
    QSettings settings;
    m_ram->setValue(settings.value(QStringLiteral("advise/ramGb"), 64.0).toDouble());
    m_reserve->setValue(settings.value(QStringLiteral("advise/reserveGb"), 0.0).toDouble());
    m_kvType->setCurrentIndex(std::clamp(settings.value(QStringLiteral("advise/kvType"), 0).toInt(), 0, 2));
    m_flash->setChecked(settings.value(QStringLiteral("advise/flash"), false).toBool());
    m_vision->setChecked(settings.value(QStringLiteral("advise/vision"), false).toBool());
    const QString modelId = settings.value(QStringLiteral("advise/model"), QStringLiteral("llama-3.1-70b")).toString();
    m_model->setCurrentIndex(std::max(0, m_model->findData(modelId)));
    m_machinePanel->selectMachine(settings.value(QStringLiteral("advise/machine")).toString());
    updateContextRange();
    if (settings.contains(QStringLiteral("advise/context")))
        setContextTokens(settings.value(QStringLiteral("advise/context")).toInt());
}

void AdvisePage::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("advise/ramGb"), m_ram->value());
    settings.setValue(QStringLiteral("advise/reserveGb"), m_reserve->value());
    settings.setValue(QStringLiteral("advise/kvType"), m_kvType->currentIndex());
    settings.setValue(QStringLiteral("advise/flash"), m_flash->isChecked());
    settings.setValue(QStringLiteral("advise/vision"), m_vision->isChecked());
    if (!m_gguf && !m_custom)
        settings.setValue(QStringLiteral("advise/model"), currentModelId());
    settings.setValue(QStringLiteral("advise/context"), m_context->value() * kContextStep);
    settings.setValue(QStringLiteral("advise/machine"), m_machinePanel->machineId());
}

//
// controller
//

void AdvisePage::connectControls()
{
    // Machine-wide inputs change the priority rows too; per-model ones only the advice.
    const auto recomputeAll = [this] {
        recompute();
        recomputeSystem();
    };
    connect(m_ramPresets, &QButtonGroup::idClicked, this, [this](int id) {
        setRamGb(id == 0 ? double(m_detectedRamBytes) / GB : double(id));
    });
    connect(m_ram, &QDoubleSpinBox::valueChanged, this, [this, recomputeAll] {
        syncRamControls();
        recomputeAll();
    });
    connect(m_reserve, &QDoubleSpinBox::valueChanged, this, recomputeAll);
    connect(m_model, &QComboBox::activated, this, &AdvisePage::onModelChosen);
    connect(m_context, &QSlider::valueChanged, this, &AdvisePage::recompute);
    connect(m_kvType, &QComboBox::currentIndexChanged, this, recomputeAll);
    connect(m_flash, &QCheckBox::toggled, this, recomputeAll);
    connect(m_vision, &QCheckBox::toggled, this, recomputeAll);
    connect(m_qualityCritical, &QCheckBox::toggled, this, &AdvisePage::recompute);
    connect(m_openGguf, &QPushButton::clicked, this, &AdvisePage::browseGguf);
    connect(m_enterShape, &QPushButton::clicked, this, &AdvisePage::enterShape);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this] {
        updateMemoryBar();
        planExactFit();
    });
    connect(m_convertButton, &QPushButton::clicked, this, &AdvisePage::requestConvert);
    connect(m_table, &QTableView::doubleClicked, this, &AdvisePage::requestConvert);
    connect(m_recommendation, &RecommendationPanel::alternativeChosen, this,
            &AdvisePage::selectCatalogModel);
    connect(m_priorities, &PriorityPanel::idle, this, &AdvisePage::emitIdleWhenDone);
}

void AdvisePage::browseGguf()
{
    QSettings s;
    const QString path = QFileDialog::getOpenFileName(this, tr("Open GGUF model"),
        s.value(QStringLiteral("folders/open")).toString(), tr("GGUF models (*.gguf);;All files (*)"));
    if (path.isEmpty())
        return;
    s.setValue(QStringLiteral("folders/open"), QFileInfo(path).absolutePath());
    openGguf(path);
}

void AdvisePage::enterShape()
{
    ModelShape start;
    if (m_custom)
        start = *m_custom;
    else if (m_advice)
        start = m_advice->model;
    ModelShapeDialog dialog(start, this);
    if (dialog.exec() == QDialog::Accepted)
        setCustomShape(dialog.shape());
}

const QuantRow *AdvisePage::recommendedIQuant() const
{
    // The recommendation may be an I-quant (nothing larger fits), which the table of the brief's
    // levels does not list; the memory bar and Convert then follow it.
    if (!m_advice || !m_advice->recommendation.fileType)
        return nullptr;
    const FileType ft = *m_advice->recommendation.fileType;
    for (const QuantRow &r : m_advice->iquantRows) {
        if (r.fileType == ft)
            return &r;
    }
    return nullptr;
}

void AdvisePage::requestConvert()
{
    const QModelIndex current = m_table->currentIndex();
    const int row = current.isValid() ? current.row() : m_tableModel->recommendedRow();
    if (row >= 0 && row == m_tableModel->fitRow())
        requestFit();
    else if (const QuantRow *level = m_tableModel->levelAt(row))
        emit convertRequested(level->name, m_ggufPath);
    else if (const QuantRow *r = recommendedIQuant())
        emit convertRequested(r->name, m_ggufPath);
}

void AdvisePage::requestFit()
{
    if (!m_advice || !m_tableModel->exactFit())
        return;
    emit fitRequested({.ramBytes = m_advice->options.ramBytes,
                       .contextTokens = m_advice->options.contextTokens,
                       .kvType = m_advice->options.kvType,
                       .reserveBytes = machineOptions().reserveBytes,
                       .flashAttention = m_advice->options.flashAttention,
                       .sourcePath = m_ggufPath});
}

void AdvisePage::setMeasurements(std::vector<QuantFit::QualityMeasurement> runs)
{
    m_measurements = std::move(runs);
    recompute();
}

bool AdvisePage::selectMachine(const QString &id)
{
    if (!m_machinePanel->selectMachine(id))
        return false;
    m_tabs->setCurrentWidget(m_machinePanel);
    return true;
}

void AdvisePage::showLevels()
{
    m_tabs->setCurrentIndex(0);
}

void AdvisePage::syncRamControls()
{
    const double gb = m_ram->value();
    const bool isDetected = std::abs(gb - double(m_detectedRamBytes) / GB) < 0.05;
    QAbstractButton *match = isDetected ? m_ramPresets->button(0) : nullptr;
    for (int preset : {32, 64, 128})
        if (std::abs(gb - preset) < 1e-9)
            match = m_ramPresets->button(preset);
    if (match) {
        match->setChecked(true);
    } else if (m_ramPresets->checkedButton()) {
        m_ramPresets->setExclusive(false);
        m_ramPresets->checkedButton()->setChecked(false);
        m_ramPresets->setExclusive(true);
    }
    m_reserve->setSpecialValueText(tr("auto (%1)").arg(formatGB(defaultReserveBytes(ramBytes()), 1)));
}

AdvisePage::~AdvisePage()
{
    if (m_fitPlan)
        m_fitPlan->requestCancel(); // the pool thread stops within a tensor; nobody waits for it
}

void AdvisePage::fillModelCombo()
{
    m_model->clear();
    if (!m_advisor)
        return;
    std::vector<const ModelShape *> models;
    for (const ModelShape &m : m_advisor->catalog().models())
        models.push_back(&m);
    std::stable_sort(models.begin(), models.end(), [](const ModelShape *a, const ModelShape *b) {
        return a->family != b->family ? a->family < b->family : a->paramsBillions < b->paramsBillions;
    });
    for (const ModelShape *m : models) {
        m_model->addItem(m->name, m->id);
        QString tip = tr("%1 · %2 B parameters · %3 layers · up to %4 tokens")
                          .arg(m->family).arg(m->paramsBillions, 0, 'f', 1).arg(m->nLayers)
                          .arg(QLocale().toString(m->nCtxMax));
        if (m->isMoe())
            tip += QStringLiteral(" · ") + moeSummary(m->nExperts, m->nExpertsUsed);
        m_model->setItemData(m_model->count() - 1, tip, Qt::ToolTipRole);
    }
}

std::uint64_t AdvisePage::ramBytes() const
{
    return std::uint64_t(m_ram->value() * GB);
}

void AdvisePage::setRamGb(double gb)
{
    m_ram->setValue(gb); // valueChanged recomputes
}

bool AdvisePage::selectCatalogModel(const QString &id)
{
    int index = m_model->findData(id);
    if (index < 0 && m_advisor) {
        if (const ModelShape *m = m_advisor->catalog().find(id))
            index = m_model->findData(m->id);
    }
    if (index < 0)
        return false;
    m_model->setCurrentIndex(index);
    onModelChosen(index);
    return true;
}

void AdvisePage::onModelChosen(int index)
{
    const QString data = m_model->itemData(index).toString();
    if (data.startsWith(QStringLiteral("gguf:")) || data == QStringLiteral("shape:")) {
        updateContextRange();
        recompute();
        return;
    }
    // A catalog model: drop the entries of an entered shape and a previously opened GGUF.
    m_custom.reset();
    m_gguf.reset();
    m_ggufPath.clear();
    removeEntry(m_model, QStringLiteral("shape:"));
    removeEntry(m_model, QStringLiteral("gguf:"));
    m_model->setCurrentIndex(m_model->findData(data));
    updateContextRange();
    recompute();
}

void AdvisePage::setCustomShape(const ModelShape &shape)
{
    m_gguf.reset();
    m_ggufPath.clear();
    removeEntry(m_model, QStringLiteral("gguf:"));
    removeEntry(m_model, QStringLiteral("shape:"));
    m_custom = std::make_unique<ModelShape>(shape);
    m_model->insertItem(0, tr("Shape: %1").arg(shape.name), QStringLiteral("shape:"));
    m_model->setCurrentIndex(0);
    updateContextRange();
    recompute();
}

void AdvisePage::openGguf(const QString &path)
{
    ++m_pending;
    m_modelInfo->setText(tr("Reading %1…").arg(QFileInfo(path).fileName()));
    loadModelAsync(path, this, [this](const LoadedModel &m) {
        --m_pending;
        onGgufLoaded(m);
        emitIdleWhenDone();
    });
}

void AdvisePage::onGgufLoaded(const LoadedModel &m)
{
    if (!m.file) {
        showError(m.error);
        return;
    }
    m_gguf = m.file;
    m_ggufPath = m.path;
    m_custom.reset();
    removeEntry(m_model, QStringLiteral("shape:"));
    const QString key = QStringLiteral("gguf:") + m.path;
    int index = m_model->findData(key);
    if (index < 0) {
        removeEntry(m_model, QStringLiteral("gguf:"));
        m_model->insertItem(0, tr("File: %1").arg(QFileInfo(m.path).fileName()), key);
        m_model->setItemData(0, m.path, Qt::ToolTipRole);
        index = 0;
    }
    m_model->setCurrentIndex(index);
    // The box is narrow: show the start of the name ("File: tinyllama-…"), not its end, which
    // read "lama-shape-F16.gguf" (the list's entry has the whole path as its tooltip).
    m_model->lineEdit()->setCursorPosition(0);
    emit fileOpened(m.path);
    updateContextRange();
    recompute();
}

bool AdvisePage::isBusy() const
{
    return m_pending > 0 || m_priorities->isBusy();
}

void AdvisePage::emitIdleWhenDone()
{
    if (!isBusy())
        emit idle();
}

QString AdvisePage::currentModelId() const
{
    if (m_gguf)
        return m_ggufPath;
    if (m_custom)
        return m_custom->id;
    return m_model->currentData().toString();
}

void AdvisePage::updateContextRange()
{
    std::uint32_t maxCtx = 8192;
    if (m_gguf) {
        try {
            maxCtx = modelInfoFrom(*m_gguf).nCtxTrain;
        } catch (const Error &) {
        }
    } else if (m_custom) {
        maxCtx = m_custom->nCtxMax;
    } else if (m_advisor) {
        if (const ModelShape *m = m_advisor->catalog().find(m_model->currentData().toString()))
            maxCtx = m->nCtxMax;
    }
    // A model trained on fewer than 512 tokens (a tiny test model) starts the slider lower, so its
    // whole range is one the advisor accepts.
    const std::uint32_t minCtx = std::clamp<std::uint32_t>(maxCtx / kContextStep * kContextStep,
                                                           kContextStep, kMinContextTokens);
    maxCtx = std::max(maxCtx, minCtx);
    const int old = m_context->value() * kContextStep;
    const QSignalBlocker block(m_context);
    m_context->setRange(int(minCtx / kContextStep), int(maxCtx / kContextStep));
    const int wanted = old > 0 ? old : int(kDefaultContext);
    m_context->setValue(std::min<int>(wanted, int(maxCtx)) / kContextStep);
}

void AdvisePage::setContextTokens(int tokens)
{
    m_context->setValue(tokens / kContextStep);
}

void AdvisePage::showError(const QString &message)
{
    m_recommendation->showError(message);
    m_modelInfo->setText(QString());
}

AdviceOptions AdvisePage::machineOptions() const
{
    AdviceOptions options;
    options.ramBytes = ramBytes();
    if (m_reserve->value() > 0)
        options.reserveBytes = std::uint64_t(m_reserve->value() * GB);
    options.kvType = KvCacheType(m_kvType->currentData().toInt());
    options.flashAttention = m_flash->isChecked();
    options.vision = m_vision->isChecked();
    return options;
}

void AdvisePage::recompute()
{
    if (!m_advisor)
        return;
    const int ctx = m_context->value() * kContextStep;
    m_contextLabel->setText(tr("%1 tokens (max %2)").arg(QLocale().toString(ctx),
                                                          QLocale().toString(m_context->maximum() * kContextStep)));
    AdviceOptions options = machineOptions();
    options.contextTokens = std::uint32_t(ctx);
    options.qualityCritical = m_qualityCritical->isChecked();
    try {
        ModelAdvice advice = m_gguf     ? m_advisor->adviseGguf(*m_gguf, options)
                             : m_custom ? m_advisor->adviseShape(*m_custom, options)
                                        : m_advisor->adviseModel(m_model->currentData().toString(), options);
        // The user's own measurements of this model replace the published estimates, as the
        // CLI's advise does.
        applyMeasuredQuality(advice, m_measurements);
        m_advice = std::make_unique<ModelAdvice>(std::move(advice));
    } catch (const Error &e) {
        m_advice.reset();
        m_tableModel->setAdvice(ModelAdvice{});
        m_machinePanel->clear();
        showError(e.message());
        updateMemoryBar();
        return;
    }
    const ModelAdvice &a = *m_advice;
    QString family = a.model.family.isEmpty() ? a.model.architecture : a.model.family;
    if (a.model.isMoe())
        family += QStringLiteral(" · ") + moeSummary(a.model.nExperts, a.model.nExpertsUsed);
    m_modelInfo->setText(tr("%1 · %2 parameters · %3 layers · %4 KV heads · KV cache %5 per token")
                             .arg(family, formatCount(a.nParams))
                             .arg(a.model.nLayers)
                             .arg(a.model.nHeadsKv)
                             .arg(formatBytes(std::uint64_t(a.kvBytesPerToken))));
    // The group box does not grow with a wrapped label's height on its own: three lines of a
    // MoE model's facts were cut to two. The left column is at most 360 pixels wide.
    m_modelInfo->setMinimumHeight(m_modelInfo->heightForWidth(300));
    m_tableModel->setAdvice(a, m_gguf ? m_ggufPath : QString());
    m_recommendation->setRecommendation(a.recommendation);
    m_machinePanel->setAdvice(a, m_gguf, m_ggufPath);
    updateMemoryBar();
    publishChartData();
    planExactFit();
}

namespace {
struct FitPlanOutcome {
    std::optional<std::uint64_t> tensorBytes;
    QString nearestMix;
    QString error; ///< empty when cancelled
};
} // namespace

void AdvisePage::planExactFit()
{
    const std::optional<ExactFit> &fit = m_tableModel->exactFit();
    const bool selected = m_table->currentIndex().isValid()
                          && m_table->currentIndex().row() == m_tableModel->fitRow();
    if (!m_advice || !fit || !selected || fit->plannedTensorBytes || !fit->planError.isEmpty()
        || (m_fitPlan && m_fitPlanBudget == fit->budgetBytes && m_fitPlanSource == fit->source))
        return;
    if (m_fitPlan)
        m_fitPlan->requestCancel(); // an older budget or another model
    auto ctx = std::make_shared<NullJobContext>();
    m_fitPlan = ctx;
    const std::uint64_t budget = fit->budgetBytes;
    const QString source = fit->source;
    m_fitPlanBudget = budget;
    m_fitPlanSource = source;
    ++m_pending;
    auto *watcher = new QFutureWatcher<FitPlanOutcome>(this);
    connect(watcher, &QFutureWatcher<FitPlanOutcome>::finished, this, [this, watcher, ctx, budget, source] {
        watcher->deleteLater();
        --m_pending;
        if (m_fitPlan == ctx)
            m_fitPlan.reset();
        const FitPlanOutcome outcome = watcher->result();
        if (outcome.tensorBytes)
            m_tableModel->setPlannedFit(source, budget, *outcome.tensorBytes, outcome.nearestMix);
        else if (!outcome.error.isEmpty())
            m_tableModel->setFitPlanError(source, budget, outcome.error);
        emitIdleWhenDone();
    });
    // The page holds the GGUF's headers only (opened metadata-only); the plan measures each
    // tensor's rows, so the worker maps the file itself (cheap: nothing is read until used).
    const QString path = m_gguf ? m_ggufPath : QString();
    watcher->setFuture(QtConcurrent::run([shape = m_advice->model, path, budget, ctx] {
        FitPlanOutcome o;
        try {
            std::shared_ptr<const GgufFile> file;
            if (!path.isEmpty())
                file = std::make_shared<const GgufFile>(GgufFile::open(path));
            const FitResult r = planFitForBudget(shape, std::move(file), budget, *ctx);
            o.tensorBytes = r.fittedBytes;
            o.nearestMix = fileTypeName(r.nearestMix);
        } catch (const Cancelled &) {
        } catch (const Error &e) {
            o.error = e.message();
        } catch (const std::exception &e) {
            o.error = QString::fromUtf8(e.what()); // bad_alloc: report, never cross the thread
        }
        return o;
    }));
}

void AdvisePage::updateMemoryBar()
{
    if (!m_advice || m_advice->rows.empty()) {
        m_memoryBar->setParts({});
        m_memoryBar->setCapacity(ramBytes(), tr("RAM"));
        updateActionButtons();
        return;
    }
    const int current = m_table->currentIndex().isValid() ? m_table->currentIndex().row() : -1;
    MemoryBreakdown memory;
    QString weights;
    if (current >= 0 && current == m_tableModel->fitRow()) {
        memory = m_tableModel->exactFit()->memory;
        weights = tr("Weights (fit exactly)");
    } else {
        const QuantRow *r = levelOrRecommended(current);
        memory = r->memory;
        weights = tr("Weights (%1)").arg(r->name);
    }
    QList<MemoryBar::Part> parts = {
        {weights, memory.weightsBytes, Palette::weights()},
        {tr("KV cache"), memory.kvCacheBytes, Palette::kvCache()},
        {tr("Compute + runtime"), memory.computeBytes + memory.overheadBytes, Palette::compute()},
    };
    if (memory.visionBytes > 0)
        parts.append({tr("Vision projector"), memory.visionBytes, Palette::compute().darker(130)});
    parts.append({tr("OS reserve"), memory.reserveBytes, Palette::reserve()});
    m_memoryBar->setParts(parts);
    m_memoryBar->setCapacity(m_advice->options.ramBytes, tr("RAM"));
    updateActionButtons();
}

// The level of table row `current` (-1: none selected), else the recommended one, an
// I-quant recommendation, Q4_K_M or the first level: never null while there is advice.
const QuantRow *AdvisePage::levelOrRecommended(int current) const
{
    const QuantRow *r =
        m_tableModel->levelAt(current >= 0 ? current : m_tableModel->recommendedRow());
    if (!r)
        r = recommendedIQuant();
    if (!r)
        r = m_advice->row(FileType::Q4_K_M);
    if (!r)
        r = &m_advice->rows.front();
    return r;
}

// "Convert with Q4_K_M…" follows the selected (else the recommended) level; on the fit row it
// becomes "Fit to this machine…". "Fit exactly…" is there whenever the table has a fit row.
void AdvisePage::updateActionButtons()
{
    m_fitButton->setEnabled(m_advice && m_tableModel->exactFit());
    if (!m_advice || m_advice->rows.empty()) {
        m_convertButton->setEnabled(false);
        return;
    }
    const int current = m_table->currentIndex().isValid() ? m_table->currentIndex().row() : -1;
    m_convertButton->setEnabled(true);
    if (current >= 0 && current == m_tableModel->fitRow()) {
        m_convertButton->setText(tr("F&it to this machine…"));
        m_convertButton->setToolTip(tr("Open Convert's \"Fit to a budget\" with this RAM, context "
                                       "and KV type"));
        return;
    }
    const QuantRow *r = levelOrRecommended(current);
    m_convertButton->setText(tr("Convert &with %1…").arg(r->name));
    m_convertButton->setToolTip(tr("Open the Convert page with this quant selected"));
}

void AdvisePage::publishChartData()
{
    if (!m_advice) {
        emit chartDataChanged(AdviceChartData{});
        return;
    }
    emit chartDataChanged(adviceChartData(*m_advice, m_gguf ? m_gguf->metadata().stringOr("general.name") : QString()));
}

void AdvisePage::recomputeSystem()
{
    m_priorities->request(machineOptions());
}
