#pragma once

#include <QMainWindow>
#include <QStringList>

#include <optional>

class AdvisePage;
class ChartsPage;
class ConvertPage;
class JobProgressWidget;
class JobRunner;
class MeasurePage;
class ModelsPage;
class QMenu;
class QTabWidget;
class ResultsModel;

/// The shell: five pages as tabs (Advise, Convert, Measure, Charts, Your models), the File and
/// Help menus,
/// the status-bar job indicator, remembered geometry/folders, and .gguf drops anywhere.
/// Cancels every job on close and waits for the pool, so no worker outlives the window.
class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    enum class Page { Advise, Convert, Measure, Charts, Models };

    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    void showPage(Page page);
    static std::optional<Page> pageFromName(const QString &name);
    Page currentPage() const;

    /// Opens a GGUF on the page that fits: Convert's source, Measure's model list, otherwise
    /// the Advise page's model. Adds it to the recent files.
    void openModel(const QString &path);

    /// The command line's --ram and --model: sets the Advise page's RAM and model, a catalog id
    /// or a .gguf file (opened as openModel() does). Returns an error message for an unknown id,
    /// else an empty string.
    QString adviseFor(std::optional<double> ramGb, const QString &model);

    /// Work runs whose result the window will show: a file being read, the Advise page's
    /// priority rows, a job.
    bool isBusy() const;

signals:
    /// isBusy() turned false.
    void idle();

protected:
    void closeEvent(QCloseEvent *event) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void emitIdleWhenDone();
    void createMenus();
    void openModelDialog();
    void addRecentFile(const QString &path);
    void rebuildRecentMenu();
    void showAbout();
    void restoreSettings();
    void saveSettings();

    JobRunner *m_runner;
    ResultsModel *m_results;
    QTabWidget *m_tabs;
    AdvisePage *m_advise;
    ConvertPage *m_convert;
    MeasurePage *m_measure;
    ChartsPage *m_charts;
    ModelsPage *m_models;
    JobProgressWidget *m_indicator;
    QMenu *m_recentMenu = nullptr;
    QStringList m_recentFiles;
};
