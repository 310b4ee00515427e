"""The worker side of the Analysis dock: the tasks that list the models for an image and run an
analysis, on Predictors from one pool (``covidviewer.analysis.predictor_pool``).

The GUI thread never imports torch: listing the models (which imports the registry) and running
them happen in tasks; the first one takes seconds.
"""
from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject

from covidviewer.analysis.catalogue import build_catalogue, default_models
from covidviewer.analysis.predictor_pool import PredictorPool
from covidviewer.analysis.run import AnalysisRequest, run_analysis
from covidviewer.ui.tasks import Task, TaskContext, lower_thread_priority


def warm_colour_tables() -> None:
    """Build every colormap LUT in the worker (the first one imports matplotlib, which is slow)."""
    from covidviewer.imaging import COLORMAPS, colormap_lut

    for name in COLORMAPS:
        colormap_lut(name)


class AnalysisTasks(QObject):
    """Makes the analysis tasks; the caller connects their signals and starts them.

    predictor_factory(device, store, cache) -> Predictor lets tests and tools supply their own.
    worker_nice: nice value of the worker threads (Linux): the GUI thread keeps answering keys while
    LIME uses every core; torch_threads: torch's thread count in the worker (None: torch's default);
    both measured in bench/bench_analysis_ui.py.
    """

    def __init__(self, predictor_factory=None, parent: QObject | None = None):
        super().__init__(parent)
        self.predictors = PredictorPool(predictor_factory)
        self.worker_nice = 10
        self.torch_threads: int | None = None

    def catalogue_task(self, volume, device: str, slice_index: int | None) -> Task:
        """A task whose ``partial`` gives (volume, [ModelChoice]) for ``volume``; it then imports the
        explanation libraries so that the first Analyse does not pay for them."""

        def work(ctx: TaskContext):
            lower_thread_priority(self.worker_nice)  # its torch threads may serve the next analysis too
            with self.predictors.first_imports:
                ctx.partial((volume, build_catalogue(self.predictors.get(device), volume, slice_index)))
                warm_colour_tables()
                from covidviewer.explain import preload

                preload()  # grad-cam / lime imports take seconds: pay them now, not in the first Analyse

        return Task("list models", work, self)

    def analysis_task(self, volume, request: AnalysisRequest) -> Task:
        """A task whose ``succeeded`` gives (volume, AnalysisRun); with no model in ``request``, every
        runnable applicable one (``default_models``). Cancelling it raises Cancelled in the worker."""

        def work(ctx: TaskContext):
            lower_thread_priority(self.worker_nice)
            with self.predictors.first_imports:  # waits for a model listing that is still importing
                predictor = self.predictors.get(request.device)
            if self.torch_threads:
                import torch

                torch.set_num_threads(self.torch_threads)
            ctx.check()
            models = request.models or default_models(build_catalogue(predictor, volume, request.slice_index))
            run = run_analysis(predictor, volume, replace(request, models=tuple(models)), ctx.progress, ctx.cancelled)
            warm_colour_tables()
            return volume, run

        return Task("analysis", work, self)
