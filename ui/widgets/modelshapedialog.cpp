#include "modelshapedialog.h"

#include "catalog/catalog.h"
#include "util/error.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QLineEdit>
#include <QMessageBox>
#include <QSpinBox>

using namespace QuantFit;

static QSpinBox *spin(QWidget *parent, int max, std::uint32_t value, const QString &tip)
{
    auto *s = new QSpinBox(parent);
    s->setRange(1, max);
    s->setValue(int(value));
    s->setToolTip(tip);
    s->setGroupSeparatorShown(true);
    return s;
}

ModelShapeDialog::ModelShapeDialog(const ModelShape &start, QWidget *parent)
    : QDialog(parent)
    , m_start(start)
    , m_name(new QLineEdit(start.name.isEmpty() ? tr("Custom model") : tr("Custom (%1)").arg(start.name), this))
    , m_layers(spin(this, 1024, start.nLayers, QStringLiteral("num_hidden_layers")))
    , m_embd(spin(this, 1 << 20, start.nEmbd, QStringLiteral("hidden_size")))
    , m_ff(spin(this, 1 << 22, start.nFf, QStringLiteral("intermediate_size")))
    , m_heads(spin(this, 4096, start.nHeads, QStringLiteral("num_attention_heads")))
    , m_headsKv(spin(this, 4096, start.nHeadsKv, QStringLiteral("num_key_value_heads")))
    , m_headDim(spin(this, 4096, start.headDim, QStringLiteral("head_dim (hidden_size / heads when absent)")))
    , m_vocab(spin(this, 1 << 24, start.nVocab, QStringLiteral("vocab_size")))
    , m_ctx(spin(this, 1 << 24, start.nCtxMax, QStringLiteral("max_position_embeddings")))
    , m_tied(new QCheckBox(tr("&Tied embeddings (no separate output matrix)"), this))
{
    setWindowTitle(tr("Enter a model shape"));
    m_tied->setChecked(start.tiedEmbeddings);
    auto *form = new QFormLayout(this);
    form->addRow(tr("&Name:"), m_name);
    form->addRow(tr("&Layers:"), m_layers);
    form->addRow(tr("&Embedding width:"), m_embd);
    form->addRow(tr("&FFN width:"), m_ff);
    form->addRow(tr("&Attention heads:"), m_heads);
    form->addRow(tr("&KV heads:"), m_headsKv);
    form->addRow(tr("Head &dimension:"), m_headDim);
    form->addRow(tr("&Vocabulary:"), m_vocab);
    form->addRow(tr("&Maximum context:"), m_ctx);
    form->addRow(m_tied);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    form->addRow(buttons);
    connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
}

ModelShape ModelShapeDialog::shape() const
{
    // A dense llama-style model: MoE and sliding-window facts are not entered here.
    ModelShape s;
    s.id = QStringLiteral("custom");
    s.name = m_name->text().trimmed().isEmpty() ? tr("Custom model") : m_name->text().trimmed();
    s.family = tr("Custom");
    s.architecture = QStringLiteral("llama");
    s.nLayers = std::uint32_t(m_layers->value());
    s.nEmbd = std::uint32_t(m_embd->value());
    s.nFf = std::uint32_t(m_ff->value());
    s.nHeads = std::uint32_t(m_heads->value());
    s.nHeadsKv = std::uint32_t(m_headsKv->value());
    s.headDim = std::uint32_t(m_headDim->value());
    s.nVocab = std::uint32_t(m_vocab->value());
    s.nCtxMax = std::uint32_t(m_ctx->value());
    s.tiedEmbeddings = m_tied->isChecked();
    s.bpeTokenizer = m_start.bpeTokenizer;
    // Parameter count from the shape: embeddings (x2 unless tied) + per layer attention + FFN.
    const double embd = s.nEmbd, ff = s.nFf, q = double(s.nHeads) * s.headDim,
                 kv = double(s.nHeadsKv) * s.headDim;
    const double perLayer = embd * q * 2 + embd * kv * 2 + 3 * embd * ff;
    s.paramsBillions = (double(s.nVocab) * embd * (s.tiedEmbeddings ? 1 : 2) + s.nLayers * perLayer) / 1e9;
    return s;
}

void ModelShapeDialog::accept()
{
    try {
        validateShape(shape(), tr("the entered shape"));
    } catch (const Error &e) {
        QMessageBox::warning(this, windowTitle(), e.message());
        return;
    }
    QDialog::accept();
}
