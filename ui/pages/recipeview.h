#pragma once

#include <QWidget>

class QLabel;
class QPushButton;
class QTreeWidget;

/// The recipe of an opened GGUF (its per-tensor types as llama-quantize --tensor-type-file
/// lines, core/quant/recipe.h) with "Copy", "Save…" and "Compare with…": the per-tensor
/// difference from a second file and the tensor bytes per role. Reads headers only, so it answers
/// at once whatever the file size. Shown as its own window (Convert's "Recipe…").
class RecipeView : public QWidget
{
    Q_OBJECT

public:
    explicit RecipeView(QWidget *parent = nullptr);

    /// Shows the recipe of `path`; a file that cannot be read shows the reason instead.
    void setFile(const QString &path);
    /// Compares the shown file (A) with `path` (B).
    void compareWith(const QString &path);

    QString recipeText() const { return m_recipeText; }
    QTreeWidget *recipeTree() const { return m_recipe; }
    QTreeWidget *differenceTree() const { return m_changed; }
    QTreeWidget *roleTree() const { return m_roles; }

private:
    void chooseComparison();
    void saveRecipe();

    QString m_path;
    QString m_recipeText;
    QLabel *m_title;
    QTreeWidget *m_recipe;
    QPushButton *m_copy;
    QPushButton *m_save;
    QPushButton *m_compare;
    QLabel *m_diffTitle;
    QTreeWidget *m_changed;
    QTreeWidget *m_roles;
};
