#pragma once

#include <QWidget>

namespace QuantFit {
struct QuantRecommendation;
}

class QLabel;
class QToolButton;

/// The advisor's recommendation for one model, laid out as the advisor wrote it: the headline
/// beside the fit badge, the reasons as a list, the decision-flow steps as a numbered list that
/// folds away, and the smaller alternative model as a link. Adds no sentences of its own.
class RecommendationPanel : public QWidget
{
    Q_OBJECT

public:
    explicit RecommendationPanel(QWidget *parent = nullptr);

    void setRecommendation(const QuantFit::QuantRecommendation &recommendation);
    /// Replaces the recommendation by an error (the advisor refused the input).
    void showError(const QString &message);

signals:
    /// The alternative's link was clicked: a catalog model id.
    void alternativeChosen(const QString &modelId);

private:
    QLabel *m_headline;
    QLabel *m_badge;
    QLabel *m_reasons;
    QToolButton *m_stepsToggle;
    QLabel *m_steps;
    QLabel *m_alternative;
};
