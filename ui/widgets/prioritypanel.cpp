#include "prioritypanel.h"

#include "advisor/advisor.h"
#include "models/advicetablemodel.h"
#include "util/error.h"
#include "util/units.h"

#include <QBoxLayout>
#include <QFutureWatcher>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QTreeWidget>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>

using namespace QuantFit;

namespace {
struct SystemResult {
    SystemAdvice advice;
    QString error;
};
} // namespace

PriorityPanel::PriorityPanel(std::shared_ptr<Advisor> advisor, QWidget *parent)
    : QWidget(parent)
    , m_advisor(std::move(advisor))
    , m_title(new QLabel(this))
    , m_rows(new QTreeWidget(this))
    , m_explanation(new QLabel(this))
{
    m_rows->setObjectName(QStringLiteral("rows"));
    m_rows->setHeaderLabels({tr("Priority"), tr("Model + quant"), tr("Size"), tr("Longest context"), tr("Notes")});
    m_rows->setRootIsDecorated(false);
    m_rows->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_rows->header()->setStretchLastSection(true);
    m_title->setWordWrap(true);
    m_explanation->setWordWrap(true);
    m_explanation->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_title);
    layout->addWidget(m_rows, 1);
    layout->addWidget(m_explanation);
    connect(m_rows, &QTreeWidget::currentItemChanged, this, [this](QTreeWidgetItem *item) {
        m_explanation->setText(item ? item->toolTip(0) : QString());
    });
}

PriorityPanel::~PriorityPanel() = default;

void PriorityPanel::request(const AdviceOptions &options)
{
    if (!m_advisor)
        return;
    const int generation = ++m_generation;
    m_title->setText(tr("<b>Priorities for %1 GB</b> (the brief's table, computed)…")
                         .arg(std::round(double(options.ramBytes) / 1e8) / 10));
    ++m_pending;
    auto *watcher = new QFutureWatcher<SystemResult>(this);
    connect(watcher, &QFutureWatcher<SystemResult>::finished, this, [this, watcher, generation] {
        --m_pending;
        watcher->deleteLater();
        // Answers may arrive out of order: only the newest is shown, and idle() waits for all.
        if (generation == m_generation) {
            const SystemResult result = watcher->result();
            if (result.error.isEmpty())
                showRows(result.advice);
            else
                showError(result.error);
        }
        if (m_pending == 0)
            emit idle();
    });
    const std::shared_ptr<Advisor> advisor = m_advisor;
    watcher->setFuture(QtConcurrent::run([advisor, options] {
        SystemResult r;
        try {
            r.advice = advisor->adviseSystem(options);
        } catch (const Error &e) {
            r.error = e.message();
        } catch (const std::exception &e) {
            r.error = QString::fromLocal8Bit(e.what());
        }
        return r;
    }));
}

void PriorityPanel::showError(const QString &message)
{
    m_rows->clear();
    m_explanation->clear();
    m_title->setText(tr("<b>Priorities:</b> %1").arg(message.toHtmlEscaped()));
}

void PriorityPanel::showRows(const SystemAdvice &s)
{
    m_rows->clear();
    m_explanation->clear();
    m_title->setText(tr("<b>Recommendations for a %1 GB system</b> (the brief's priority rows, computed; "
                        "select a row for its reasoning)").arg(std::round(double(s.options.ramBytes) / 1e8) / 10));
    for (const PriorityRow &p : s.rows) {
        auto *item = new QTreeWidgetItem(m_rows);
        item->setText(0, priorityName(p.priority));
        item->setText(1, QStringLiteral("%1 %2").arg(p.modelName, p.quant.name));
        item->setText(2, formatGB(p.quant.fileBytes, 1));
        item->setText(3, p.quant.longestContextTokens ? QLocale().toString(p.quant.longestContextTokens) : tr("—"));
        item->setText(4, p.note.isEmpty() ? AdviceTableModel::badgeText(p.quant.badge) : p.note);
        for (int c = 0; c < 5; ++c)
            item->setToolTip(c, p.explanation);
    }
    if (!s.notes.isEmpty())
        m_rows->setToolTip(s.notes.join(u'\n'));
    if (m_rows->topLevelItemCount() > 0)
        m_rows->setCurrentItem(m_rows->topLevelItem(0)); // shows its reasoning
}
