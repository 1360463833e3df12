#include "recipeview.h"

#include "gguf/ggufreader.h"
#include "tasks/fittask.h" // recipes and diffs (quant/recipe.h) come with it
#include "util/error.h"
#include "util/units.h"

#include <QApplication>
#include <QClipboard>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPushButton>
#include <QSaveFile>
#include <QSplitter>
#include <QTreeWidget>
#include <QVBoxLayout>

using namespace QuantFit;

namespace {

QTreeWidget *makeTree(const QStringList &headers, QWidget *parent)
{
    auto *tree = new QTreeWidget(parent);
    tree->setHeaderLabels(headers);
    tree->setRootIsDecorated(false);
    tree->setAlternatingRowColors(true);
    tree->header()->setSectionResizeMode(0, QHeaderView::Stretch);
    return tree;
}

QString typeText(const std::optional<GgmlType> &t)
{
    return t ? ggmlTypeName(*t) : QStringLiteral("—");
}

} // namespace

RecipeView::RecipeView(QWidget *parent)
    : QWidget(parent)
    , m_title(new QLabel(this))
    , m_recipe(makeTree({tr("Pattern"), tr("Type"), tr("Tensors")}, this))
    , m_copy(new QPushButton(tr("&Copy recipe"), this))
    , m_save(new QPushButton(tr("&Save recipe…"), this))
    , m_compare(new QPushButton(tr("Compare &with…"), this))
    , m_diffTitle(new QLabel(this))
    , m_changed(makeTree({tr("Tensor"), tr("Role"), tr("A"), tr("B"), tr("Bytes A"), tr("Bytes B")}, this))
    , m_roles(makeTree({tr("Role"), tr("Tensors A/B"), tr("A"), tr("B"), tr("B − A")}, this))
{
    setWindowTitle(tr("Recipe"));
    m_title->setWordWrap(true);
    m_title->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_copy->setToolTip(tr("Copy the lines: a file of them replays these types with quantize "
                          "--tensor-type-file (QuantFit or llama-quantize)"));
    auto *buttons = new QHBoxLayout;
    buttons->addWidget(m_copy);
    buttons->addWidget(m_save);
    buttons->addStretch();
    buttons->addWidget(m_compare);
    auto *top = new QWidget(this);
    auto *topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addWidget(m_title);
    topLayout->addWidget(m_recipe, 1);
    topLayout->addLayout(buttons);
    auto *bottom = new QWidget(this);
    auto *bottomLayout = new QVBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    bottomLayout->addWidget(m_diffTitle);
    bottomLayout->addWidget(m_changed, 2);
    bottomLayout->addWidget(m_roles, 1);
    bottom->setVisible(false);
    auto *split = new QSplitter(Qt::Vertical, this);
    split->addWidget(top);
    split->addWidget(bottom);
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(split);
    resize(900, 640);

    connect(m_copy, &QPushButton::clicked, this,
            [this] { QApplication::clipboard()->setText(m_recipeText); });
    connect(m_save, &QPushButton::clicked, this, &RecipeView::saveRecipe);
    connect(m_compare, &QPushButton::clicked, this, &RecipeView::chooseComparison);
}

void RecipeView::setFile(const QString &path)
{
    m_path = path;
    m_recipe->clear();
    m_recipeText.clear();
    m_changed->parentWidget()->setVisible(false);
    setWindowTitle(tr("Recipe of %1").arg(QFileInfo(path).fileName()));
    try {
        const GgufFile file = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
        const std::vector<RecipeLine> recipe = makeRecipe(file.tensors());
        m_recipeText = QuantFit::recipeText(recipe);
        for (const RecipeLine &l : recipe) {
            auto *item = new QTreeWidgetItem(m_recipe);
            item->setText(0, l.pattern);
            item->setText(1, ggmlTypeName(l.type));
            item->setText(2, QString::number(l.nTensors));
            item->setTextAlignment(2, Qt::AlignRight);
        }
        const GgufValue *note = file.metadata().find("quantize.recipe");
        m_title->setText(tr("<b>%1</b>: %2 lines for %3 tensors%4")
                             .arg(QFileInfo(path).fileName().toHtmlEscaped())
                             .arg(recipe.size())
                             .arg(file.tensors().size())
                             .arg(note ? tr("<br>Fitted: %1").arg(note->toString().toHtmlEscaped())
                                       : QString()));
    } catch (const Error &e) {
        m_title->setText(tr("Cannot read %1: %2").arg(path.toHtmlEscaped(), e.message().toHtmlEscaped()));
    }
    m_copy->setEnabled(!m_recipeText.isEmpty());
    m_save->setEnabled(!m_recipeText.isEmpty());
    m_compare->setEnabled(!m_recipeText.isEmpty());
}

void RecipeView::compareWith(const QString &path)
{
    m_changed->clear();
    m_roles->clear();
    m_changed->parentWidget()->setVisible(true);
    try {
        const GgufFile a = GgufFile::open(m_path, GgufFile::Mode::MetadataOnly);
        const GgufFile b = GgufFile::open(path, GgufFile::Mode::MetadataOnly);
        const TensorListDiff d = diffTensorLists(a.tensors(), b.tensors());
        m_diffTitle->setText(tr("A: %1 (%2) · B: %3 (%4) — %5 tensors the same, %6 differ")
                                 .arg(QFileInfo(m_path).fileName(), formatBytes(a.totalFileSize()),
                                      QFileInfo(path).fileName(), formatBytes(b.totalFileSize()))
                                 .arg(d.nSame)
                                 .arg(d.changed.size()));
        for (const TensorDifference &t : d.changed) {
            auto *item = new QTreeWidgetItem(m_changed);
            item->setText(0, QString::fromUtf8(t.name));
            item->setText(1, tensorRoleName(t.role));
            item->setText(2, typeText(t.typeA));
            item->setText(3, typeText(t.typeB));
            item->setText(4, t.typeA ? formatBytes(t.bytesA) : QString());
            item->setText(5, t.typeB ? formatBytes(t.bytesB) : QString());
        }
        auto addRole = [&](const QString &name, int na, int nb, std::uint64_t ba, std::uint64_t bb) {
            auto *item = new QTreeWidgetItem(m_roles);
            item->setText(0, name);
            item->setText(1, QStringLiteral("%1/%2").arg(na).arg(nb));
            item->setText(2, formatBytes(ba));
            item->setText(3, formatBytes(bb));
            item->setText(4, (bb >= ba ? QStringLiteral("+") : QStringLiteral("−"))
                                 + formatBytes(bb >= ba ? bb - ba : ba - bb));
        };
        for (const RoleTotals &r : d.roles)
            addRole(tensorRoleName(r.role), r.nTensorsA, r.nTensorsB, r.bytesA, r.bytesB);
        addRole(tr("all"), int(a.tensors().size()), int(b.tensors().size()), d.bytesA, d.bytesB);
    } catch (const Error &e) {
        m_diffTitle->setText(tr("Cannot compare with %1: %2").arg(path, e.message()));
    }
}

void RecipeView::chooseComparison()
{
    const QString path = QFileDialog::getOpenFileName(this, tr("Compare with"),
                                                      QFileInfo(m_path).absolutePath(),
                                                      tr("GGUF models (*.gguf);;All files (*)"));
    if (!path.isEmpty())
        compareWith(path);
}

void RecipeView::saveRecipe()
{
    const QString suggested = QFileInfo(m_path).absolutePath() + QLatin1Char('/')
                              + QFileInfo(m_path).completeBaseName() + QStringLiteral(".recipe.txt");
    const QString path = QFileDialog::getSaveFileName(this, tr("Save recipe"), suggested,
                                                      tr("Text files (*.txt);;All files (*)"));
    if (path.isEmpty())
        return;
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(m_recipeText.toUtf8()) < 0 || !f.commit())
        m_title->setText(tr("Cannot save %1: %2").arg(path, f.errorString()));
}
