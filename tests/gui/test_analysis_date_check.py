"""The viewer's "no COVID-19 answer before Dec 2019" box reaches the analysis worker (inference.era_check)."""
from __future__ import annotations

import pytest
from analysis_support import (  # noqa: F401 (app_window, square_models: fixtures)
    analyse_and_wait,
    app_window,
    radiograph_volume,
    show,
    square_models,
)

pytestmark = pytest.mark.gui


@pytest.mark.parametrize("ticked", [True, False])
def test_the_date_check_box_goes_into_the_request(qtbot, app_window, square_models, monkeypatch, ticked):
    import covidviewer.ui.analysis.worker_tasks as worker_tasks_module

    seen = []
    real = worker_tasks_module.run_analysis

    def recording(predictor, volume, request, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(request)
        return real(predictor, volume, request, *args, **kwargs)

    monkeypatch.setattr(worker_tasks_module, "run_analysis", recording)
    window, analysis = app_window
    film = radiograph_volume()
    film.meta["study_date"] = "20040826"
    show(qtbot, window, analysis, film)
    assert analysis.panel.date_check.isChecked()  # on unless the reader turns it off
    analysis.panel.date_check.setChecked(ticked)
    analyse_and_wait(qtbot, analysis)
    assert [r.date_check for r in seen] == [ticked]
    for result in analysis.run.results.values():  # with the box ticked no answer on a 2004 film is COVID-19
        if ticked and result.status == "ok":
            assert result.decision != "COVID-19"
