#include "fitpanel.h"

#include "util/units.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QRadioButton>
#include <QRegularExpression>
#include <QSpinBox>
#include <QTreeWidget>
#include <QVBoxLayout>

using namespace QuantFit;

FitPanel::FitPanel(QWidget *parent)
    : QGroupBox(tr("&Fit to a budget (one file, instead of the checked quants)"), parent)
    , m_bySize(new QRadioButton(tr("File size"), this))
    , m_byMachine(new QRadioButton(tr("This machine"), this))
    , m_sizeGb(new QDoubleSpinBox(this))
    , m_ramGb(new QDoubleSpinBox(this))
    , m_context(new QSpinBox(this))
    , m_kv(new QComboBox(this))
    , m_sensitivity(new QComboBox(this))
    , m_preview(new QPushButton(tr("Preview &recipe"), this))
    , m_summary(new QLabel(this))
    , m_recipe(new QTreeWidget(this))
{
    setCheckable(true);
    setChecked(false);
    setObjectName(QStringLiteral("fit"));
    m_sizeGb->setRange(0.001, 1e5);
    m_sizeGb->setDecimals(3);
    m_sizeGb->setSuffix(tr(" GB"));
    m_sizeGb->setValue(4);
    m_ramGb->setRange(0.5, 1e5);
    m_ramGb->setDecimals(1);
    m_ramGb->setSuffix(tr(" GB"));
    m_ramGb->setValue(64);
    m_context->setRange(256, 1 << 22);
    m_context->setSingleStep(1024);
    m_context->setValue(8192);
    m_context->setSuffix(tr(" tokens"));
    for (KvCacheType kv : {KvCacheType::F16, KvCacheType::Q8_0, KvCacheType::Q4_0})
        m_kv->addItem(kvCacheTypeName(kv), int(kv));
    m_sensitivity->setObjectName(QStringLiteral("sensitivity"));
    m_sensitivity->addItem(tr("Measured where quick (auto)"), int(FitSensitivityMode::Auto));
    m_sensitivity->addItem(tr("Always measure"), int(FitSensitivityMode::Measured));
    m_sensitivity->addItem(tr("Fixed factors"), int(FitSensitivityMode::Documented));
    m_sensitivity->setToolTip(
        tr("How much each tensor's error costs. Measured: each tensor alone at Q4_K in the "
           "model, its KL divergence on the built-in sample (one forward pass per tensor); auto "
           "measures when the estimate is at most %1 s and the model can be run, else uses the "
           "fixed factors per role (output ×2, token_embd ×4, first and last layers ×1.5).")
            .arg(kFitCalibrationAutoSeconds));
    m_bySize->setChecked(true);
    m_sizeGb->setToolTip(tr("The output file is at most this size (decimal GB), exactly, from the plan"));
    m_byMachine->setToolTip(tr("The weights get what the advisor's memory model leaves at this "
                               "context: RAM − KV cache − compute buffer − overhead − reserve"));
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_recipe->setHeaderLabels({tr("Pattern"), tr("Type"), tr("Tensors")});
    m_recipe->setRootIsDecorated(false);
    // The pattern gets the width (a 22-layer model's layer lists are long), the type and count
    // only what they need; a real model's recipe is 10-20 lines: at least 8 show, up to 16.
    m_recipe->header()->setStretchLastSection(false);
    m_recipe->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_recipe->header()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
    m_recipe->header()->setSectionResizeMode(2, QHeaderView::ResizeToContents);
    m_recipe->setMinimumHeight(9 * fontMetrics().height());
    m_recipe->setMaximumHeight(18 * fontMetrics().height());
    m_recipe->setVisible(false);

    auto *form = new QFormLayout;
    auto *sizeRow = new QHBoxLayout;
    sizeRow->addWidget(m_bySize);
    sizeRow->addWidget(m_sizeGb);
    sizeRow->addStretch();
    auto *machineRow = new QHBoxLayout;
    machineRow->addWidget(m_byMachine);
    machineRow->addWidget(m_ramGb);
    machineRow->addWidget(new QLabel(tr("context"), this));
    machineRow->addWidget(m_context);
    machineRow->addWidget(new QLabel(tr("KV"), this));
    machineRow->addWidget(m_kv);
    machineRow->addStretch();
    auto *sensitivityRow = new QHBoxLayout;
    sensitivityRow->addWidget(new QLabel(tr("Sensitivity"), this));
    sensitivityRow->addWidget(m_sensitivity);
    sensitivityRow->addStretch();
    form->addRow(sizeRow);
    form->addRow(machineRow);
    form->addRow(sensitivityRow);
    // The controls fold away while the group is unchecked, so the page keeps its height.
    auto *body = new QWidget(this);
    auto *bodyLayout = new QVBoxLayout(body);
    bodyLayout->setContentsMargins(0, 0, 0, 0);
    bodyLayout->addLayout(form);
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(m_summary, 1);
    buttons->addWidget(m_preview);
    bodyLayout->addLayout(buttons);
    bodyLayout->addWidget(m_recipe);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(body);
    // Unchecked, only the check box title shows: a flat box capped at one line, because an empty
    // framed box keeps its margins and leaves an empty strip under the title.
    const auto collapse = [this, body](bool on) {
        body->setVisible(on);
        setFlat(!on);
        setMaximumHeight(on ? QWIDGETSIZE_MAX : fontMetrics().height() + 4);
    };
    collapse(false);
    connect(this, &QGroupBox::toggled, this, collapse);

    connect(m_preview, &QPushButton::clicked, this, &FitPanel::previewRequested);
    connect(m_sizeGb, &QDoubleSpinBox::valueChanged, this, [this] { m_fileBytes.reset(); });
    for (QDoubleSpinBox *s : {m_sizeGb, m_ramGb})
        connect(s, &QDoubleSpinBox::valueChanged, this, &FitPanel::changed);
    connect(m_context, &QSpinBox::valueChanged, this, &FitPanel::changed);
    connect(m_kv, &QComboBox::currentIndexChanged, this, &FitPanel::changed);
    connect(m_sensitivity, &QComboBox::currentIndexChanged, this, &FitPanel::changed);
    connect(m_bySize, &QRadioButton::toggled, this, &FitPanel::changed);
    connect(this, &QGroupBox::toggled, this, &FitPanel::changed);
    connect(this, &FitPanel::changed, this, [this] {
        m_recipe->setVisible(false);
        m_summary->setText(isChecked() ? tr("Press Preview recipe to see the chosen types, or "
                                            "Convert to fit and write.")
                                       : QString());
    });
}

std::optional<FitTarget> FitPanel::target() const
{
    if (!isChecked())
        return std::nullopt;
    FitTarget t;
    t.sensitivity = FitSensitivityMode(m_sensitivity->currentData().toInt());
    if (m_bySize->isChecked()) {
        t.kind = FitTarget::Kind::FileSize;
        if (m_fileBytes) {
            t.fileBytes = *m_fileBytes;
            t.text = tr("file size %1 bytes").arg(*m_fileBytes);
        } else {
            t.fileBytes = std::uint64_t(m_sizeGb->value() * 1e9);
            t.text = tr("file size %1 GB").arg(m_sizeGb->value());
        }
    } else {
        t.kind = FitTarget::Kind::Machine;
        t.ramBytes = std::uint64_t(m_ramGb->value() * 1e9);
        t.contextTokens = std::uint32_t(m_context->value());
        t.kvType = KvCacheType(m_kv->currentData().toInt());
        t.reserveBytes = m_reserveBytes;
        t.flashAttention = m_flashAttention;
        t.text = tr("%1 GB RAM, context %2, KV %3")
                     .arg(m_ramGb->value())
                     .arg(t.contextTokens)
                     .arg(kvCacheTypeName(t.kvType));
        if (m_reserveBytes)
            t.text += tr(", reserve %1 GB").arg(double(*m_reserveBytes) / 1e9);
        if (m_flashAttention)
            t.text += tr(", flash attention");
    }
    return t;
}

void FitPanel::setMachine(std::uint64_t ramBytes, std::uint32_t contextTokens, KvCacheType kv,
                          std::optional<std::uint64_t> reserveBytes, bool flashAttention)
{
    m_reserveBytes = reserveBytes;
    m_flashAttention = flashAttention;
    setChecked(true);
    m_byMachine->setChecked(true);
    m_ramGb->setValue(double(ramBytes) / 1e9);
    if (contextTokens)
        m_context->setValue(int(contextTokens));
    m_kv->setCurrentIndex(m_kv->findData(int(kv)));
    emit changed(); // the reserve and flash attention have no widget of their own
}

void FitPanel::setFileSize(std::uint64_t bytes)
{
    setChecked(true);
    m_bySize->setChecked(true);
    m_sizeGb->setValue(double(bytes) / 1e9);
    // The box shows whole MB; the budget stays exact (a few-MB model's mixes are KBs apart).
    m_fileBytes = bytes;
    emit changed();
}

// Three significant digits, trailing zeros kept: "2.34 vs 4.00" ('g' wrote "vs 4" for 3.996).
static QString costText(double cost)
{
    return QString::asprintf("%#.3g", cost);
}

void FitPanel::showFitted(const FittedConversion &f)
{
    const FitResult &r = f.fit;
    m_summary->setText(tr("%1<br>%2 (%3 bits/weight), named %4; base mix %5. Predicted loss %6 "
                          "vs %7 for %5.")
                           .arg(f.budget.description.toHtmlEscaped(),
                                formatBytes(r.plan.outputFileBytes))
                           .arg(r.plan.bitsPerWeight(), 0, 'f', 2)
                           .arg(fileTypeName(r.nearestMix), fileTypeName(r.baseMix))
                           .arg(costText(r.predictedCost), costText(r.baseMixCost))
                       + tr("<br>Sensitivity: %1").arg(f.sensitivity.text().toHtmlEscaped()));
    m_recipe->clear();
    // Measured: each line unfolds to its tensors (the first line whose pattern matches, as
    // --tensor-type reads them) with the KLD of the tensor alone at its probe type and the
    // sensitivity derived from it, as `quantize --dry-run` lists them.
    const bool measured = r.calibrated;
    QStringList headers{tr("Pattern"), tr("Type"), tr("Tensors")};
    if (measured)
        headers << tr("Measured KLD") << tr("Sensitivity");
    m_recipe->setColumnCount(int(headers.size()));
    m_recipe->setHeaderLabels(headers);
    for (int c = 3; c < int(headers.size()); ++c)
        m_recipe->header()->setSectionResizeMode(c, QHeaderView::ResizeToContents);
    m_recipe->setRootIsDecorated(measured);
    std::vector<QTreeWidgetItem *> lines;
    std::vector<QRegularExpression> patterns;
    for (const RecipeLine &l : r.recipe) {
        auto *item = new QTreeWidgetItem(m_recipe);
        item->setText(0, l.pattern);
        item->setText(1, ggmlTypeName(l.type));
        item->setText(2, QString::number(l.nTensors));
        item->setToolTip(0, l.pattern); // the layer lists of long patterns are elided
        item->setTextAlignment(2, Qt::AlignRight | Qt::AlignVCenter);
        lines.push_back(item);
        patterns.emplace_back(l.pattern);
    }
    if (measured) {
        for (const FitTensor &t : r.tensors) {
            const QString name = QString::fromUtf8(t.name);
            for (std::size_t i = 0; i < patterns.size(); ++i) {
                if (!patterns[i].match(name).hasMatch())
                    continue;
                auto *child = new QTreeWidgetItem(lines[i]);
                child->setText(0, name);
                child->setText(1, ggmlTypeName(t.type));
                if (t.measuredKld >= 0) {
                    child->setText(3, tr("%1 at %2")
                                          .arg(QString::asprintf("%.4g", t.measuredKld),
                                               ggmlTypeName(t.probeType)));
                    child->setText(4, QString::asprintf("%.4g", t.sensitivity));
                    child->setTextAlignment(4, Qt::AlignRight | Qt::AlignVCenter);
                }
                break;
            }
        }
    }
    m_recipe->setVisible(true);
}

void FitPanel::showMessage(const QString &text)
{
    m_summary->setText(text.toHtmlEscaped());
    m_recipe->setVisible(false);
}

void FitPanel::setPreviewEnabled(bool enabled)
{
    m_preview->setEnabled(enabled);
}
