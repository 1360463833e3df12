#include "conversionoptionsbox.h"

#include "gguf/ggmltype.h"
#include "tasks/conversiontask.h"

#include <QBoxLayout>
#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QThread>

using namespace QuantFit;

// Tensor types offered for --output-tensor-type / --token-embedding-type: everything we can
// write, floats included.
static void fillTypeCombo(QComboBox *combo)
{
    combo->addItem(QObject::tr("(as the mix decides)"));
    for (const TypeFacts &t : allTypeFacts()) {
        if (t.canQuantize && !t.runtimeOnly)
            combo->addItem(QString::fromLatin1(t.name.data(), qsizetype(t.name.size())), int(t.type));
    }
}

ConversionOptionsBox::ConversionOptionsBox(QWidget *parent)
    : QGroupBox(tr("Adva&nced"), parent)
    , m_imatrix(new QLineEdit(this))
    , m_browseImatrix(new QPushButton(tr("Choose…"), this))
    , m_pure(new QCheckBox(tr("&Pure: every quantizable tensor at the mix's bulk type"), this))
    , m_requantize(new QCheckBox(tr("Allow re-quanti&zing an already quantized source"), this))
    , m_outputType(new QComboBox(this))
    , m_embdType(new QComboBox(this))
    , m_threads(new QSpinBox(this))
{
    m_imatrix->setObjectName(QStringLiteral("imatrix"));
    setCheckable(true);
    setChecked(false);
    auto *form = new QFormLayout;
    auto *imatrixRow = new QHBoxLayout;
    imatrixRow->addWidget(m_imatrix, 1);
    imatrixRow->addWidget(m_browseImatrix);
    m_imatrix->setPlaceholderText(tr("optional: imatrix.gguf or legacy .dat"));
    m_imatrix->setToolTip(tr("An importance matrix weights the quantization error by how much "
                             "each column matters; it improves low-bit quants, I-quants most."));
    form->addRow(tr("&Importance matrix:"), imatrixRow);
    form->addRow(m_pure);
    m_requantize->setToolTip(tr("Quantizing a quantized file compounds the error; prefer the F16/BF16 original"));
    form->addRow(m_requantize);
    fillTypeCombo(m_outputType);
    fillTypeCombo(m_embdType);
    form->addRow(tr("Output tensor t&ype:"), m_outputType);
    form->addRow(tr("Token &embedding type:"), m_embdType);
    m_threads->setRange(0, 256);
    m_threads->setSpecialValueText(tr("all cores (%1)").arg(QThread::idealThreadCount()));
    form->addRow(tr("Thread&s:"), m_threads);
    auto *holder = new QWidget(this);
    holder->setLayout(form);
    holder->setVisible(false);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(holder);

    // Collapsed, only the check box title shows.
    const auto collapse = [this, holder](bool on) {
        holder->setVisible(on);
        setFlat(!on);
        setMaximumHeight(on ? QWIDGETSIZE_MAX : fontMetrics().height() + 4);
    };
    collapse(false);
    connect(this, &QGroupBox::toggled, this, collapse);
    connect(m_browseImatrix, &QPushButton::clicked, this, &ConversionOptionsBox::browseImatrix);
    connect(m_imatrix, &QLineEdit::textChanged, this, &ConversionOptionsBox::imatrixChanged);
    connect(this, &QGroupBox::toggled, this, &ConversionOptionsBox::imatrixChanged);
    connect(this, &QGroupBox::toggled, this, &ConversionOptionsBox::optionsChanged);
    connect(m_pure, &QCheckBox::toggled, this, &ConversionOptionsBox::optionsChanged);
    connect(m_requantize, &QCheckBox::toggled, this, &ConversionOptionsBox::optionsChanged);
    connect(m_outputType, &QComboBox::currentIndexChanged, this, &ConversionOptionsBox::optionsChanged);
    connect(m_embdType, &QComboBox::currentIndexChanged, this, &ConversionOptionsBox::optionsChanged);
}

void ConversionOptionsBox::applyTo(ConversionRequest &r) const
{
    r.nThreads = m_threads->value();
    if (!isChecked())
        return;
    QuantOptions &o = r.options;
    o.pure = m_pure->isChecked();
    o.allowRequantize = m_requantize->isChecked();
    if (m_outputType->currentIndex() > 0)
        o.outputTensorType = GgmlType(m_outputType->currentData().toInt());
    if (m_embdType->currentIndex() > 0)
        o.tokenEmbeddingType = GgmlType(m_embdType->currentData().toInt());
    r.imatrixPath = m_imatrix->text().trimmed();
}

void ConversionOptionsBox::browseImatrix()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Importance matrix"), {},
                                                      tr("Importance matrix (*.gguf *.dat);;All files (*)"));
    if (!path.isEmpty())
        m_imatrix->setText(path);
}
