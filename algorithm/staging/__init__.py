"""HECKTOR 2026 T and N staging: lesion geometry (:mod:`.geometry`), the classifiers (:mod:`.model`,
``StagingModel.load(dir).predict(features, clinical)``) and their trainer (:mod:`.train`)."""

from algorithm.staging.geometry import GEOMETRY_FEATURE_NAMES, staging_geometry
from algorithm.staging.model import FORMAT, FORMAT_VERSION, StagePrediction, StagingModel, fit_staging_model

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "GEOMETRY_FEATURE_NAMES",
    "StagePrediction",
    "StagingModel",
    "fit_staging_model",
    "staging_geometry",
]
