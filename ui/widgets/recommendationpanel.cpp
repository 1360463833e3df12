#include "recommendationpanel.h"

#include "advisor/advisor.h"
#include "models/advicetablemodel.h"

#include <QBoxLayout>
#include <QLabel>
#include <QToolButton>

using namespace QuantFit;

namespace {

// Rich text of a list: one item per string, escaped, with a hanging indent so a wrapped
// sentence lines up under its first word.
QString htmlList(const QStringList &items, bool numbered)
{
    const QString tag = numbered ? QStringLiteral("ol") : QStringLiteral("ul");
    QString html = QStringLiteral("<%1 style=\"margin-top:0; margin-bottom:0; margin-left:0; "
                                  "-qt-list-indent:1;\">")
                       .arg(tag);
    for (const QString &item : items)
        html += QStringLiteral("<li>%1</li>").arg(item.toHtmlEscaped());
    return html + QStringLiteral("</%1>").arg(tag);
}

QLabel *wrappingLabel(QWidget *parent)
{
    auto *label = new QLabel(parent);
    label->setWordWrap(true);
    label->setTextFormat(Qt::RichText);
    label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    return label;
}

} // namespace

RecommendationPanel::RecommendationPanel(QWidget *parent)
    : QWidget(parent)
    , m_headline(wrappingLabel(this))
    , m_badge(new QLabel(this))
    , m_reasons(wrappingLabel(this))
    , m_stepsToggle(new QToolButton(this))
    , m_steps(wrappingLabel(this))
    , m_alternative(new QLabel(this))
{
    // Names for tests and accessibility tools, which find the widgets by them.
    m_headline->setObjectName(QStringLiteral("headline"));
    m_badge->setObjectName(QStringLiteral("badge"));
    m_reasons->setObjectName(QStringLiteral("reasons"));
    m_stepsToggle->setObjectName(QStringLiteral("stepsToggle"));
    m_steps->setObjectName(QStringLiteral("steps"));
    m_alternative->setObjectName(QStringLiteral("alternative"));

    QFont bold = m_headline->font();
    bold.setBold(true);
    bold.setPointSizeF(bold.pointSizeF() * 1.15);
    m_headline->setFont(bold);
    m_badge->setFont(bold);
    m_stepsToggle->setText(tr("&Decision flow"));
    m_stepsToggle->setToolTip(tr("The steps of the brief's decision flow that led here"));
    m_stepsToggle->setCheckable(true);
    m_stepsToggle->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    m_stepsToggle->setArrowType(Qt::RightArrow);
    m_stepsToggle->setAutoRaise(true);
    m_steps->setVisible(false);
    m_alternative->setTextFormat(Qt::RichText);
    m_alternative->setWordWrap(true);

    auto *top = new QHBoxLayout;
    top->addWidget(m_headline, 1);
    top->addWidget(m_badge, 0, Qt::AlignTop);
    auto *bottom = new QHBoxLayout;
    bottom->addWidget(m_stepsToggle, 0, Qt::AlignTop);
    bottom->addWidget(m_alternative, 1);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->setSpacing(2);
    layout->addLayout(top);
    layout->addWidget(m_reasons);
    layout->addLayout(bottom);
    layout->addWidget(m_steps);

    connect(m_stepsToggle, &QToolButton::toggled, this, [this](bool on) {
        m_stepsToggle->setArrowType(on ? Qt::DownArrow : Qt::RightArrow);
        m_steps->setVisible(on);
    });
    connect(m_alternative, &QLabel::linkActivated, this, &RecommendationPanel::alternativeChosen);
}

void RecommendationPanel::setRecommendation(const QuantRecommendation &r)
{
    m_headline->setText(r.headline.toHtmlEscaped());
    m_headline->setToolTip(r.steps.join(u'\n'));
    m_badge->setText(AdviceTableModel::badgeText(r.fit));
    QPalette badgePalette = m_badge->palette();
    badgePalette.setColor(QPalette::WindowText, AdviceTableModel::badgeColor(r.fit));
    m_badge->setPalette(badgePalette);
    m_badge->setToolTip(r.belowStart ? tr("Below Q4_K_M only because nothing higher fits: expect "
                                          "noticeable quality loss")
                                     : QString());
    m_reasons->setText(htmlList(r.reasons, false));
    m_steps->setText(htmlList(r.steps, true));
    m_stepsToggle->setVisible(!r.steps.isEmpty());
    if (!r.alternativeModelId.isEmpty() && r.alternativeFileType)
        m_alternative->setText(tr("Smaller model, higher quant: <a href=\"%1\">%2 at %3</a>")
                                   .arg(r.alternativeModelId.toHtmlEscaped(),
                                        r.alternativeModelName.toHtmlEscaped(),
                                        fileTypeName(*r.alternativeFileType)));
    else
        m_alternative->clear();
}

void RecommendationPanel::showError(const QString &message)
{
    m_headline->setText(tr("Cannot advise: %1").arg(message.toHtmlEscaped()));
    m_headline->setToolTip(QString());
    m_badge->clear();
    m_reasons->clear();
    m_steps->clear();
    m_stepsToggle->setVisible(false);
    m_alternative->clear();
}
