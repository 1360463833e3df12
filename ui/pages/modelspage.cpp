#include "modelspage.h"

#include "models/discoveredmodelsmodel.h"
#include "widgets/handoffpanel.h"

#include "discovery/modelstores.h"
#include "jobs/jobcontext.h"
#include "util/units.h"

#include <QCheckBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

using namespace QuantFit;

ModelsPage::ModelsPage(JobRunner *runner, QWidget *parent)
    : QWidget(parent)
    , m_handoff(new HandoffPanel(runner))
    , m_model(new DiscoveredModelsModel(this))
    , m_filter(new DiscoveredModelsFilter(this))
    , m_search(new QLineEdit)
    , m_refresh(new QPushButton(tr("&Refresh")))
    , m_addFolder(new QPushButton(tr("Add &folder…")))
    , m_removeFolders(new QPushButton(tr("Forget folders")))
    , m_status(new QLabel)
    , m_table(new QTableView)
    , m_details(new QLabel)
    , m_advise(new QPushButton(tr("&Advise for this file")))
    , m_convert(new QPushButton(tr("&Convert…")))
    , m_measure(new QPushButton(tr("&Measure")))
    , m_useSibling(new QPushButton(tr("Select the full-&precision file")))
{
    m_search->setObjectName(QStringLiteral("modelSearch"));
    m_refresh->setObjectName(QStringLiteral("refreshModels"));
    m_status->setObjectName(QStringLiteral("modelsStatus"));
    m_table->setObjectName(QStringLiteral("modelsTable"));
    m_details->setObjectName(QStringLiteral("modelDetails"));
    m_advise->setObjectName(QStringLiteral("adviseModel"));
    m_convert->setObjectName(QStringLiteral("convertModel"));
    m_measure->setObjectName(QStringLiteral("measureModel"));
    m_useSibling->setObjectName(QStringLiteral("useSibling"));

    m_filter->setSourceModel(m_model);
    auto *splitter = new QSplitter(Qt::Vertical);
    splitter->addWidget(createListBox());
    splitter->addWidget(createDetails());
    splitter->addWidget(m_handoff);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 0);
    splitter->setStretchFactor(2, 1);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(splitter);

    restoreSettings();
    connect(m_search, &QLineEdit::textChanged, m_filter, &DiscoveredModelsFilter::setSearchText);
    connect(m_refresh, &QPushButton::clicked, this, &ModelsPage::refresh);
    connect(m_addFolder, &QPushButton::clicked, this, &ModelsPage::addFolder);
    connect(m_removeFolders, &QPushButton::clicked, this, &ModelsPage::removeFolders);
    for (QCheckBox *box : std::as_const(m_sourceBoxes))
        connect(box, &QCheckBox::toggled, this, &ModelsPage::refresh);
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            &ModelsPage::updateDetails);
    connect(m_table, &QTableView::doubleClicked, this, [this] {
        if (const DiscoveredModel *m = selectedModel(); m && m->isReadable())
            emit adviseRequested(m->path);
    });
    connect(m_advise, &QPushButton::clicked, this, [this] {
        if (const DiscoveredModel *m = selectedModel())
            emit adviseRequested(m->path);
    });
    connect(m_measure, &QPushButton::clicked, this, [this] {
        if (const DiscoveredModel *m = selectedModel())
            emit measureRequested(m->path);
    });
    connect(m_convert, &QPushButton::clicked, this, &ModelsPage::requestConvert);
    connect(m_useSibling, &QPushButton::clicked, this, [this] {
        if (const DiscoveredModel *m = selectedModel())
            selectModel(m->fullPrecisionSibling);
    });
    connect(m_handoff, &HandoffPanel::handoffFinished, this, [this](const QString &, bool ok) {
        if (ok)
            refresh(); // the model now shows in its runner's store
    });
    updateDetails();
}

ModelsPage::~ModelsPage() = default;

// Search, the sources to scan, user folders and the table.
QWidget *ModelsPage::createListBox()
{
    auto *box = new QWidget;
    m_search->setPlaceholderText(tr("Search by name, type, architecture or path"));
    m_search->setClearButtonEnabled(true);
    auto *sources = new QHBoxLayout;
    sources->addWidget(m_search, 1);
    for (ModelSource s : allModelSources()) {
        auto *check = new QCheckBox(s == ModelSource::Folder ? tr("Your folders") : modelSourceName(s));
        check->setObjectName(QStringLiteral("source-") + modelSourceId(s));
        check->setProperty("source", modelSourceId(s));
        check->setChecked(true);
        m_sourceBoxes << check;
        sources->addWidget(check);
    }
    sources->addWidget(m_addFolder);
    sources->addWidget(m_removeFolders);
    sources->addWidget(m_refresh);
    m_addFolder->setToolTip(tr("Also look for GGUF files in a folder of yours"));
    m_refresh->setToolTip(tr("Look again (reads headers only; nothing is written)"));

    m_table->setModel(m_filter);
    m_table->setSortingEnabled(true);
    m_table->sortByColumn(-1, Qt::AscendingOrder);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->verticalHeader()->setVisible(false);
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_table->setAlternatingRowColors(true);
    m_table->setWordWrap(false);
    m_table->setTextElideMode(Qt::ElideMiddle);
    m_status->setWordWrap(true);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto *layout = new QVBoxLayout(box);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(sources);
    layout->addWidget(m_status);
    layout->addWidget(m_table, 1);
    return box;
}

// What is known of the chosen model, and where it can go.
QWidget *ModelsPage::createDetails()
{
    auto *box = new QWidget;
    m_details->setWordWrap(true);
    m_details->setTextFormat(Qt::RichText);
    m_details->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_advise->setToolTip(tr("Sizes, memory and the recommendation for this exact file"));
    m_convert->setToolTip(tr("Use it as the source on the Convert page"));
    m_measure->setToolTip(tr("Add it to the models on the Measure page"));
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(m_advise);
    buttons->addWidget(m_convert);
    buttons->addWidget(m_measure);
    buttons->addWidget(m_useSibling);
    buttons->addStretch(1);
    auto *layout = new QVBoxLayout(box);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_details);
    layout->addLayout(buttons);
    return box;
}

void ModelsPage::restoreSettings()
{
    QSettings settings;
    m_folders = settings.value(QStringLiteral("models/folders")).toStringList();
    const QStringList off = settings.value(QStringLiteral("models/disabledSources")).toStringList();
    for (QCheckBox *box : std::as_const(m_sourceBoxes))
        box->setChecked(!off.contains(box->property("source").toString()));
    m_removeFolders->setVisible(!m_folders.isEmpty());
}

void ModelsPage::saveSettings() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("models/folders"), m_folders);
    QStringList off;
    for (const QCheckBox *box : m_sourceBoxes) {
        if (!box->isChecked())
            off << box->property("source").toString();
    }
    settings.setValue(QStringLiteral("models/disabledSources"), off);
}

void ModelsPage::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    // The list appears without configuration: the first visit scans.
    if (!m_scannedOnce && !m_scanning)
        refresh();
}

DiscoveryOptions ModelsPage::scanOptions() const
{
    QStringList on;
    for (const QCheckBox *box : m_sourceBoxes) {
        if (box->isChecked())
            on << box->property("source").toString();
    }
    DiscoveryOptions o = defaultDiscoveryOptions();
    std::erase_if(o.stores,
                  [&](const StoreLocation &l) { return !on.contains(modelSourceId(l.source)); });
    if (on.contains(modelSourceId(ModelSource::Folder)))
        o.folders = m_folders;
    return o;
}

void ModelsPage::refresh()
{
    if (m_scanning) {
        m_rescan = true;
        return;
    }
    m_scanning = true;
    m_scannedOnce = true;
    m_refresh->setEnabled(false);
    m_status->setText(tr("Looking for models…"));
    auto *watcher = new QFutureWatcher<DiscoveryResult>(this);
    connect(watcher, &QFutureWatcher<DiscoveryResult>::finished, this, [this, watcher] {
        watcher->deleteLater();
        m_scanning = false;
        m_refresh->setEnabled(true);
        showScan(watcher->result());
        if (m_rescan) {
            m_rescan = false;
            refresh();
            return;
        }
        emit scanFinished();
    });
    watcher->setFuture(QtConcurrent::run([options = scanOptions()] {
        NullJobContext ctx;
        return discoverModels(options, ctx);
    }));
}

void ModelsPage::showScan(const DiscoveryResult &result)
{
    const QString selected = selectedModel() ? selectedModel()->path : QString();
    m_model->setModels(result.models);
    m_problems = result.problems;
    QStringList places;
    for (const StoreLocation &l : result.scanned)
        places << modelSourceName(l.source);
    places.removeDuplicates();
    QString text =
        result.scanned.empty()
            ? tr("No models found: none of the runners' folders exists. Add a folder of yours.")
            : (result.models.size() == 1 ? tr("1 model in %1.")
                                         : tr("%1 models in %2.").arg(result.models.size()))
                  .arg(places.join(QStringLiteral(", ")));
    const auto unreadable = std::count_if(result.models.begin(), result.models.end(),
                                          [](const DiscoveredModel &m) { return !m.isReadable(); });
    if (unreadable)
        text += QLatin1Char(' ')
                + tr("%1 cannot be read (the error is in the Path column).").arg(unreadable);
    if (!m_problems.isEmpty())
        text += QLatin1Char(' ') + tr("Problems: %1").arg(m_problems.join(QStringLiteral("; ")));
    m_status->setText(text);
    QStringList tips;
    for (const StoreLocation &l : result.scanned)
        tips << QStringLiteral("%1: %2 (%3)")
                    .arg(modelSourceName(l.source), QDir::toNativeSeparators(l.path), l.reason);
    m_status->setToolTip(tips.join(QLatin1Char('\n')));
    m_table->resizeColumnsToContents();
    if (!selected.isEmpty())
        selectModel(selected);
    updateDetails();
}

const std::vector<DiscoveredModel> &ModelsPage::models() const
{
    return m_model->models();
}

bool ModelsPage::selectModel(const QString &path)
{
    const int row = m_model->rowOf(path);
    if (row < 0)
        return false;
    const QModelIndex index = m_filter->mapFromSource(m_model->index(row, 0));
    if (!index.isValid())
        return false;
    m_table->selectionModel()->setCurrentIndex(index, QItemSelectionModel::ClearAndSelect
                                                          | QItemSelectionModel::Rows);
    m_table->scrollTo(index);
    return true;
}

const DiscoveredModel *ModelsPage::selectedModel() const
{
    const QModelIndex current = m_table->selectionModel()->currentIndex();
    if (!current.isValid())
        return nullptr;
    return m_model->modelAt(m_filter->mapToSource(current).row());
}

void ModelsPage::setSearchText(const QString &text)
{
    m_search->setText(text);
}

void ModelsPage::setFolders(const QStringList &folders)
{
    m_folders = folders;
    m_removeFolders->setVisible(!m_folders.isEmpty());
    refresh();
}

void ModelsPage::addFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Folder with GGUF models"));
    if (dir.isEmpty() || m_folders.contains(dir))
        return;
    setFolders(m_folders + QStringList{dir});
}

void ModelsPage::removeFolders()
{
    setFolders({});
}

void ModelsPage::updateDetails()
{
    const DiscoveredModel *m = selectedModel();
    m_advise->setEnabled(m && m->isReadable());
    m_convert->setEnabled(m && m->isReadable());
    m_measure->setEnabled(m && m->isReadable());
    m_useSibling->setVisible(m && !m->fullPrecisionSibling.isEmpty());
    if (!m) {
        m_details->setText(tr("Choose a model to advise for it, convert it or measure it."));
        return;
    }
    QStringList lines;
    lines << QStringLiteral("<b>%1</b> · %2").arg(m->name.toHtmlEscaped(), modelSourceName(m->source));
    if (!m->aliases.isEmpty())
        lines << tr("Also named %1").arg(m->aliases.join(QStringLiteral(", ")).toHtmlEscaped());
    if (m->isReadable()) {
        QString model = m->title.isEmpty() ? m->architecture
                                           : m->title + QStringLiteral(" · ") + m->architecture;
        if (!m->moe.isEmpty())
            model += QStringLiteral(" · ") + m->moe;
        lines << tr("%1 · %2 parameters · %3 (%4 bits per weight) · %5 · context %6")
                     .arg(model.toHtmlEscaped(),
                          formatCount(m->nParams), m->fileType)
                     .arg(m->bitsPerWeight, 0, 'f', 2)
                     .arg(formatBytes(m->sizeBytes))
                     .arg(m->contextLength);
    } else {
        lines << tr("<span style='color:#b00020'>Cannot be read: %1</span>")
                     .arg(m->error.toHtmlEscaped());
    }
    lines << QDir::toNativeSeparators(m->path).toHtmlEscaped();
    for (const QString &p : m->projectors)
        lines << tr("Vision projector: %1").arg(QDir::toNativeSeparators(p).toHtmlEscaped());
    if (!m->fullPrecisionSibling.isEmpty())
        lines << tr("Already quantized; the full-precision file is here too: %1 (convert from it)")
                     .arg(QDir::toNativeSeparators(m->fullPrecisionSibling).toHtmlEscaped());
    else if (m->isReadable() && !m->isFullPrecision())
        lines << tr("Already quantized: converting it again loses more quality than converting "
                    "a full-precision file.");
    m_details->setText(lines.join(QStringLiteral("<br>")));
    m_convert->setText(m->fullPrecisionSibling.isEmpty() ? tr("&Convert…")
                                                         : tr("&Convert the full-precision file…"));
    // An unreadable model is nothing to hand off: the panel must not keep the previous one.
    if (m->isReadable())
        m_handoff->setSubject(m->path, m->path, m->ollamaManifest,
                              tr("%1 from %2").arg(m->name, modelSourceName(m->source)));
    else
        m_handoff->setSubject(QString());
}

void ModelsPage::requestConvert()
{
    const DiscoveredModel *m = selectedModel();
    if (!m)
        return;
    const QString source = m->fullPrecisionSibling.isEmpty() ? m->path : m->fullPrecisionSibling;
    // A model in a runner's store is converted to QuantFit's folder, never into the store.
    const bool inStore =
        m->source != ModelSource::Folder
        || storeContaining(source, defaultStoreLocations(DiscoveryEnvironment::current()));
    emit convertRequested(source, inStore ? convertedModelsFolder() : QString());
}

void ModelsPage::offerHandoff(const QStringList &outputs, const QString &sourcePath)
{
    if (outputs.isEmpty())
        return;
    QString manifest;
    if (const int row = m_model->rowOf(sourcePath); row >= 0)
        manifest = m_model->modelAt(row)->ollamaManifest;
    m_handoff->setSubject(outputs.front(), sourcePath, manifest,
                          tr("Converted from %1").arg(QDir::toNativeSeparators(sourcePath)));
}
