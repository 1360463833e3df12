#include "calibrationbox.h"

#include <QBoxLayout>
#include <QButtonGroup>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QSpinBox>

using namespace QuantFit;

CalibrationBox::CalibrationBox(QWidget *parent)
    : QGroupBox(tr("Importance matrix from a calibration te&xt"), parent)
    , m_sample(new QRadioButton(tr("Built-in &sample text"), this))
    , m_file(new QRadioButton(tr("Text &file:"), this))
    , m_path(new QLineEdit(this))
    , m_browse(new QPushButton(tr("Choose…"), this))
    , m_chunks(new QSpinBox(this))
    , m_ctx(new QSpinBox(this))
    , m_note(new QLabel(this))
{
    // Names for tests and accessibility tools, which find the widgets by them.
    m_sample->setObjectName(QStringLiteral("calibrationSample"));
    m_file->setObjectName(QStringLiteral("calibrationFile"));
    m_path->setObjectName(QStringLiteral("calibrationPath"));
    m_chunks->setObjectName(QStringLiteral("calibrationChunks"));
    m_ctx->setObjectName(QStringLiteral("calibrationCtx"));
    m_note->setObjectName(QStringLiteral("calibrationNote"));

    // Neither is checked at first: the user chooses one (then they exclude each other).
    auto *group = new QButtonGroup(this);
    group->addButton(m_sample);
    group->addButton(m_file);
    m_path->setPlaceholderText(tr("plain UTF-8 text, or ARCHIVE:MEMBER (zip, tar.*, 7z)"));
    m_path->setToolTip(tr("Text like what the model will read: its language and domain. The "
                          "importance matrix weights the quantization error by how much each "
                          "column of every weight matrix is used on this text."));
    m_chunks->setRange(1, 100000);
    m_chunks->setValue(kCalibrationDefaultChunks);
    m_chunks->setToolTip(tr("At most this many chunks are evaluated (fewer when the text is "
                            "shorter). Time grows linearly with the chunks."));
    m_ctx->setRange(16, 1 << 16);
    m_ctx->setSingleStep(128);
    m_ctx->setValue(kCalibrationDefaultCtx);
    m_ctx->setToolTip(tr("Tokens per chunk; 512 is llama-imatrix's default."));
    m_note->setWordWrap(true);
    setMixes({});

    auto *fileRow = new QHBoxLayout;
    fileRow->addWidget(m_file);
    fileRow->addWidget(m_path, 1);
    fileRow->addWidget(m_browse);
    auto *sizes = new QHBoxLayout;
    sizes->addWidget(new QLabel(tr("At most"), this));
    sizes->addWidget(m_chunks);
    sizes->addWidget(new QLabel(tr("chunks of"), this));
    sizes->addWidget(m_ctx);
    sizes->addWidget(new QLabel(tr("tokens"), this));
    sizes->addStretch();
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_note);
    layout->addWidget(m_sample);
    layout->addLayout(fileRow);
    layout->addLayout(sizes);

    const QString last = QSettings().value(QStringLiteral("convert/calibrationText")).toString();
    m_path->setText(last);

    connect(m_browse, &QPushButton::clicked, this, &CalibrationBox::browse);
    connect(m_path, &QLineEdit::textEdited, this, [this] { m_file->setChecked(true); });
    connect(m_path, &QLineEdit::textChanged, this, &CalibrationBox::changed);
    connect(m_sample, &QRadioButton::toggled, this, &CalibrationBox::changed);
    connect(m_file, &QRadioButton::toggled, this, &CalibrationBox::changed);
    connect(m_chunks, &QSpinBox::valueChanged, this, &CalibrationBox::changed);
    connect(m_ctx, &QSpinBox::valueChanged, this, &CalibrationBox::changed);
}

std::optional<CalibrationRequest> CalibrationBox::calibration() const
{
    const QString path = textFile();
    if (!m_sample->isChecked() && (!m_file->isChecked() || path.isEmpty()))
        return std::nullopt;
    CalibrationRequest c;
    c.textSource = m_sample->isChecked() ? QString() : path;
    c.nChunks = m_chunks->value();
    c.nCtx = m_ctx->value();
    return c;
}

QString CalibrationBox::textFile() const
{
    return m_path->text().trimmed();
}

void CalibrationBox::setTextFile(const QString &path)
{
    m_path->setText(path);
    m_file->setChecked(true);
    QSettings().setValue(QStringLiteral("convert/calibrationText"), path);
    emit changed();
}

void CalibrationBox::setMixes(const QStringList &names)
{
    const QString which = names.isEmpty() ? tr("This mix needs")
                          : names.size() == 1 ? tr("%1 needs").arg(names.front())
                                              : tr("%1 need").arg(names.join(QStringLiteral(", ")));
    m_note->setText(tr("%1 an importance matrix, and no imatrix file is given under Advanced. "
                       "QuantFit computes one from a text first, then quantizes with it, in "
                       "one job. The built-in sample is short, general English: a real text of "
                       "the model's domain and language gives a better matrix.")
                        .arg(which));
}

void CalibrationBox::browse()
{
    const QString start = QFileInfo(textFile()).absolutePath();
    const QString path = QFileDialog::getOpenFileName(this, tr("Calibration text"), start,
                                                      tr("Text (*.txt *.raw *.md);;All files (*)"));
    if (!path.isEmpty())
        setTextFile(path);
}
