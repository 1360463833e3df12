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
class QMenu;
class QTabWidget;
class ResultsModel;

/// The shell: four pages as tabs (Advise, Convert, Measure, Charts), the File and Help menus,
/// the status-bar job indicator, remembered geometry/folders, and .gguf drops anywhere.
/// Cancels every job on close and waits for the pool, so no worker outlives the window.
class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    enum class Page { Advise, Convert, Measure, Charts };

    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    void showPage(Page page);
    static std::optional<Page> pageFromName(const QString &name);
    Page currentPage() const;

    /// Opens a GGUF on the page that fits: Convert's source, Measure's model list, otherwise
    /// the Advise page's model. Adds it to the recent files.
    void openModel(const QString &path);

    /// Renders the window offscreen into `file` (PNG). Returns false when it cannot be written.
    bool saveScreenshot(const QString &file);
    /// Processes events until files being opened are read and no job runs (max 30 s).
    void waitUntilIdle();

    AdvisePage *advisePage() const { return m_advise; }
    ConvertPage *convertPage() const { return m_convert; }
    MeasurePage *measurePage() const { return m_measure; }
    ChartsPage *chartsPage() const { return m_charts; }
    JobRunner *jobRunner() const { return m_runner; }
    JobProgressWidget *jobIndicator() const { return m_indicator; }

protected:
    void closeEvent(QCloseEvent *event) override;
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
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
    JobProgressWidget *m_indicator;
    QMenu *m_recentMenu = nullptr;
    QStringList m_recentFiles;
};
